import { setTimeout as sleep } from 'node:timers/promises';
import { DomicileError } from '../errors/domicile-error.js';
import type { AuditAppend, RegionStore } from '../store/region-store.js';
import { type AuditEvent, auditEventSchema, encodeEntry } from './audit-event.js';
import type { AuditSigner } from './audit-signer.js';
import { signCheckpoint } from './checkpoint.js';
import { CompactRange, leafHash } from './merkle.js';
import { type AuditPage, verifyLog } from './verify-log.js';

/** How many times an append is tried on top of a log that other nodes of the pool keep extending. */
const maxAppendAttempts = 30;

/**
 * A page of a region's log as a verifier reads it: entries with seq > afterSeq, and the
 * checkpoints over them; on the last page, every checkpoint left (one past the last entry is a
 * sign of entries removed).
 */
export async function readAuditPage(
  region: string,
  publicKey: string,
  store: RegionStore,
  afterSeq: number,
  limit: number,
): Promise<AuditPage> {
  const page = await store.auditPage(afterSeq, limit);
  return {
    region,
    publicKey,
    size: page.size,
    entries: page.entries.map((e) => ({
      seq: e.seq,
      entry: e.entry.toString('utf8'),
      leafHash: e.leafHash.toString('hex'),
    })),
    checkpoints: page.checkpoints.map((c) => ({
      region,
      size: c.size,
      root: c.root.toString('hex'),
      at: c.at,
      signature: c.signature.toString('base64'),
    })),
  };
}

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
  /** The newest entry's time: each append is dated after it, so every append is told apart by its time. */
  private lastAt = 0;
  /** Why the stored log does not verify, if it does not: then nothing is appended (that would sign over it). */
  private broken: string[] = [];

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

  get problems(): readonly string[] {
    return this.broken;
  }

  /**
   * Rebuilds the right edge by verifying the stored log first, from its raw entries and signed
   * checkpoints, as an auditor would (with this region's own key): a log changed while the node
   * was down must not be signed over. If it does not verify, the node still starts and serves
   * reads of the log, but refuses every append, naming the problems.
   */
  async init(): Promise<void> {
    const verified = await verifyLog(this.regionId, (afterSeq, limit) =>
      readAuditPage(this.regionId, this.signer.publicKey, this.store, afterSeq, limit),
    );
    this.broken = verified.problems;
    this.range = verified.range;
    this.lastAt = verified.latest?.at ?? 0;
  }

  /**
   * Prepares the append of `events` and hands it to `commit`, which stores it (alone, or in the
   * transaction of the change it records). Serialized with every other append.
   */
  async append<T>(events: readonly RecordedEvent[], commit: (append: AuditAppend) => Promise<T>): Promise<T> {
    for (const { event } of events) {
      const checked = auditEventSchema.safeParse(event);
      if (!checked.success)
        throw new DomicileError(
          'INTERNAL',
          `an audit event of type ${event.type} is malformed (${checked.error.issues[0]?.message ?? 'unknown'}): it was not recorded, and nothing changed`,
        );
    }
    const run = this.tail.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.appendNow(events, commit);
        } catch (err) {
          // Another node of this region (a pool on one PostgreSQL database) appended meanwhile:
          // this node's right edge is behind. Read the log again and try on top of it; nodes
          // that keep colliding back off at random, longer each time, so one of them gets in each round.
          const behind =
            err instanceof DomicileError && err.code === 'CONFLICT' && err.details?.auditSize !== undefined;
          if (!behind || attempt >= maxAppendAttempts) throw err;
          await this.init();
          await sleep(Math.random() * Math.min(200, 2 ** attempt));
        }
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async appendNow<T>(
    events: readonly RecordedEvent[],
    commit: (append: AuditAppend) => Promise<T>,
  ): Promise<T> {
    if (this.broken.length > 0) {
      throw new DomicileError(
        'INTEGRITY',
        `region ${this.regionId}'s audit log does not verify, so nothing more is recorded or changed until it is restored from backup: ${this.broken.slice(0, 3).join('; ')}`,
      );
    }
    const next = this.range.clone();
    const at = Math.max(Date.now(), this.lastAt + 1);
    const entries = events.map(({ id, event }) => {
      const seq = next.size + 1;
      const entry = encodeEntry(seq, at, this.regionId, event);
      const leaf = leafHash(entry);
      next.append(leaf);
      return { seq, eventId: id, type: event.type, entry, leafHash: leaf };
    });
    const signed = signCheckpoint(this.signer, next.size, next.root(), at);
    const result = await commit({
      entries,
      checkpoint: { size: signed.size, root: next.root(), at, signature: Buffer.from(signed.signature, 'base64') },
    });
    this.range = next;
    this.lastAt = at;
    return result;
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
