import type { AuditAppend, RegionStore } from '../store/region-store.js';
import { encodeEntry, type AuditEvent } from './audit-event.js';
import type { AuditSigner } from './audit-signer.js';
import { signCheckpoint } from './checkpoint.js';
import { CompactRange, leafHash } from './merkle.js';

/** An event to record, with the id that makes recording it twice record it once (null: none). */
export interface RecordedEvent {
  id: string | null;
  event: AuditEvent;
}

/**
 * A region's audit log: an append-only RFC 6962 Merkle log in the region's own store, each
 * append stored with a checkpoint signed over the whole log with it, in the same transaction
 * as the change it records (a consent decision, a shred, an erasure). The node keeps the log's
 * right edge in memory to sign new tree heads without rehashing; appends are serialized, and
 * the edge moves only once the store has committed.
 */
export class AuditLog {
  private range = new CompactRange();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly regionId: string,
    private readonly store: RegionStore,
    private readonly signer: AuditSigner,
  ) {}

  get publicKey(): string {
    return this.signer.publicKey;
  }

  get size(): number {
    return this.range.size;
  }

  /** Rebuilds the right edge from the stored leaf hashes (a verifier recomputes them from the entries). */
  async init(): Promise<void> {
    const range = new CompactRange();
    for (let after = 0; ;) {
      const page = await this.store.auditEntries(after, 5_000);
      for (const row of page) range.append(row.leafHash);
      if (page.length < 5_000) break;
      after = page.at(-1)!.seq;
    }
    this.range = range;
  }

  /**
   * Prepares the append of `events` and hands it to `commit`, which stores it (alone, or in the
   * transaction of the change it records). Serialized with every other append.
   */
  async append<T>(events: readonly RecordedEvent[], commit: (append: AuditAppend) => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      const next = this.range.clone();
      const at = Date.now();
      const entries = events.map(({ id, event }) => {
        const seq = next.size + 1;
        const entry = encodeEntry(seq, at, this.regionId, event);
        const leaf = leafHash(entry);
        next.append(leaf);
        return { seq, eventId: id, type: event.type, entry, leafHash: leaf };
      });
      const signed = signCheckpoint(this.signer, next.size, next.root(), at);
      const result = await commit({ entries, checkpoint: { size: signed.size, root: next.root(), at, signature: Buffer.from(signed.signature, 'base64') } });
      this.range = next;
      return result;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Records events on their own; an event whose id is already recorded is skipped. Returns the seqs of all. */
  async record(events: readonly RecordedEvent[]): Promise<number[]> {
    const fresh: RecordedEvent[] = [];
    const seqs: Array<number | undefined> = [];
    for (const e of events) {
      const seq = e.id === null ? undefined : await this.store.auditSeqOfEvent(e.id);
      seqs.push(seq);
      if (seq === undefined) fresh.push(e);
    }
    if (fresh.length === 0) return seqs as number[];
    const first = await this.append(fresh, async (append) => {
      await this.store.appendAudit(append);
      return append.entries[0]!.seq;
    });
    let n = first;
    return seqs.map((s) => s ?? n++);
  }
}
