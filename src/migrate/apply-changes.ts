import type { ChangeView, ExportedRecord, RecordStates, RegionClient, UserImport } from '../region/region-client.js';
import type { RateLimiter } from './rate-limiter.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';

/** A page of a region's change log, and where the next page starts. */
export interface ChangePage {
  changes: ChangeView[];
  /** Everything up to here has been seen: the checkpoint to record once the page is applied. */
  next: number;
  /** The page was full: more entries follow at once. */
  more: boolean;
  /** The log's last sequence as the region reported it (for the lag). */
  head: number;
}

/**
 * Reads the changes of one service after a sequence. When the page is full, only what it
 * returned counts as seen (the rest follows); when it is not, the region's reported last
 * sequence does too, so a log full of other services' changes is not scanned again and again.
 */
export async function readChangePage(
  region: RegionClient,
  afterSeq: number,
  service: string,
  limit: number,
): Promise<ChangePage> {
  const { changes, lastSeq } = await region.changesSince({ afterSeq, limit, service });
  const last = changes.at(-1)?.seq ?? afterSeq;
  const more = changes.length >= limit;
  const next = more ? last : Math.max(afterSeq, last, lastSeq);
  return { changes, next, more, head: Math.max(lastSeq, last) };
}

/** A user whose records are applied: market and the epoch of their tenancy in the target. */
export interface ApplyTarget {
  market: string;
  epoch: number;
  /** Changes at or before this sequence are skipped (already applied for this user). */
  afterSeq?: number;
}

export interface Applied {
  /** Records whose state was applied (present or deleted). */
  rows: number;
  bytes: number;
  users: Set<string>;
}

/**
 * Users whose record states applyChanges reads at once. Each read is a few statements in the
 * source (tenancy, key, records); read one user at a time, a reverse pass that follows a
 * steady writer's changes to every moved user took most of the coordinator's time by the end
 * of a move, slowing each batch (issue 17). Bounded, so that a pass holds little plaintext.
 */
const readsAtOnce = 8;

/** Records whose states one importUsers call carries at most: bounds a call's plaintext. */
const recordsPerImport = 2_000;

/**
 * Plaintext one importUsers call carries at most, counting each record's framing too: half a
 * region server's 4 MiB body limit, so that a call to a region in its own process always fits.
 */
export const bytesPerImport = 2 * 1024 * 1024;
export const framingBytes = 200;

/**
 * Brings `to` up to date with `from` for every record the changes name, for the target users
 * only: it reads each record's current state in `from` (a value, or deleted) and imports that
 * state, several users per import. Applying current state rather than replaying operations
 * makes it idempotent and order-free: a change applied twice, or a later state applied before
 * an earlier change is seen, converges to the same rows, which is what lets every step be
 * redone after a crash.
 */
export async function applyChanges(opts: {
  from: RegionClient;
  to: RegionClient;
  service: string;
  targets: ReadonlyMap<string, ApplyTarget>;
  changes: readonly ChangeView[];
  limiter?: RateLimiter | undefined;
}): Promise<Applied> {
  const byUser = new Map<string, Map<string, { collection: string; key: string }>>();
  for (const c of opts.changes) {
    const target = opts.targets.get(c.userId);
    if (!target || c.service !== opts.service) continue;
    if (target.afterSeq !== undefined && c.seq <= target.afterSeq) continue;
    let refs = byUser.get(c.userId);
    if (!refs) byUser.set(c.userId, (refs = new Map()));
    refs.set(`${c.collection}\u0000${c.key}`, { collection: c.collection, key: c.key });
  }
  const applied: Applied = { rows: 0, bytes: 0, users: new Set() };
  let pending: UserImport[] = [];
  let pendingRows = 0;
  let pendingBytes = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    await opts.limiter?.take(pendingRows);
    await opts.to.importUsers({ service: opts.service, users: pending });
    applied.rows += pendingRows;
    for (const u of pending) applied.users.add(u.userId);
    pending = [];
    pendingRows = 0;
    pendingBytes = 0;
    await yieldToEventLoop();
  };
  const users = [...byUser];
  for (let i = 0; i < users.length; i += readsAtOnce) {
    // A few users' states read at once: one at a time, a catch-up or a reverse pass under a
    // steady writer spends its time waiting on round trips (see readsAtOnce).
    const chunk = users.slice(i, i + readsAtOnce);
    const read = await Promise.all(
      chunk.map(([userId, refs]) =>
        opts.from.readRecordStates({ service: opts.service, userId, refs: [...refs.values()] }),
      ),
    );
    for (const [j, [userId]] of chunk.entries()) await addUser(userId, read[j]!);
  }
  await flush();
  return applied;

  async function addUser(userId: string, states: RecordStates<ExportedRecord>): Promise<void> {
    const target = opts.targets.get(userId)!;
    const size = states.records.reduce((n, r) => n + r.bytes + framingBytes, 0) + states.deleted.length * framingBytes;
    if (pending.length > 0 && pendingBytes + size > bytesPerImport) await flush();
    pending.push({ userId, market: target.market, epoch: target.epoch, states });
    pendingBytes += size;
    pendingRows += states.records.length + states.deleted.length;
    applied.bytes += states.records.reduce((n, r) => n + r.bytes, 0);
    if (pendingRows >= recordsPerImport) await flush();
  }
}
