import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import type { RegionClient, UserDigest } from '../region/region-client.js';
import { userDigest } from '../region/user-digest.js';
import { readChangePage } from './apply-changes.js';
import { type BatchContext, describeBatch, failed, type PhaseResult, succeeded } from './batch-context.js';
import type { BatchRecord } from './coordinator-store.js';
import { type RecordMismatch, withheldKey } from './migration-types.js';
import { refKey, rowsOfDigest, type VerifiedRows } from './verified-rows.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';

export interface Comparison {
  mismatches: RecordMismatch[];
  /** The digests of the side that is (or becomes) the home, per user, where they could be made. */
  digests: Map<string, UserDigest>;
}

/** Users digested per call: one listing and decryption pass in the region, a few MB of hashes back. */
const usersPerDigest = 64;

/**
 * Each user's digest in a region, or the problem that kept it from being made: a record that
 * fails to open (INTEGRITY) is a mismatch to name, not a crash of the engine. A call that
 * meets one is made again user by user, to name who it was.
 */
export async function digestMany(
  region: RegionClient,
  service: string,
  userIds: readonly string[],
  digestKey: string,
): Promise<Map<string, UserDigest | string>> {
  const out = new Map<string, UserDigest | string>();
  for (let i = 0; i < userIds.length; i += usersPerDigest) {
    const chunk = userIds.slice(i, i + usersPerDigest);
    try {
      for (const d of await region.digestUsers({ service, userIds: chunk, digestKey })) out.set(d.userId, d);
    } catch (err) {
      if (!isDomicileError(err, 'INTEGRITY')) throw err;
      for (const userId of chunk) {
        try {
          out.set(userId, (await region.digestUsers({ service, userIds: [userId], digestKey }))[0]!);
        } catch (one) {
          if (!isDomicileError(one, 'INTEGRITY')) throw one;
          out.set(userId, `${region.regionId}: ${one.message}`);
        }
      }
    }
    await yieldToEventLoop();
  }
  return out;
}

/** The records that differ between two digests of one user, each named. */
export function diffDigests(userId: string, a: UserDigest, b: UserDigest): RecordMismatch[] {
  const index = (d: UserDigest) => new Map(d.records.map((r) => [`${r.collection}\u0000${r.key}`, r]));
  const left = index(a);
  const right = index(b);
  const out: RecordMismatch[] = [];
  for (const id of new Set([...left.keys(), ...right.keys()])) {
    const s = left.get(id);
    const d = right.get(id);
    if (s && d && s.version === d.version && s.hash === d.hash) continue;
    const ref = (s ?? d)!;
    const problem = !d
      ? 'missing in the destination'
      : !s
        ? 'in the destination only (deleted in the source)'
        : s.version !== d.version
          ? `version ${s.version} in the source, ${d.version} in the destination`
          : `content differs at version ${s.version}`;
    out.push({
      userId,
      collection: ref.collection,
      key: ref.key,
      problem,
      source: s ? { version: s.version, hash: s.hash } : null,
      destination: d ? { version: d.version, hash: d.hash } : null,
    });
  }
  if (out.length === 0 && a.digest !== b.digest) {
    out.push({
      userId,
      collection: '*',
      key: '*',
      source: null,
      destination: null,
      problem: `user digests differ (${a.digest} / ${b.digest}) with equal records`,
    });
  }
  return out;
}

/** Compares digests of the same users, source and destination, and names every record that differs. */
function compareDigests(
  userIds: readonly string[],
  from: ReadonlyMap<string, UserDigest | string>,
  to: ReadonlyMap<string, UserDigest | string>,
): Comparison {
  const result: Comparison = { mismatches: [], digests: new Map() };
  for (const userId of userIds) {
    const a = from.get(userId)!;
    const b = to.get(userId)!;
    if (typeof b !== 'string') result.digests.set(userId, b);
    if (typeof a === 'string' || typeof b === 'string') {
      result.mismatches.push({
        userId,
        collection: '*',
        key: '*',
        source: null,
        destination: null,
        problem: typeof a === 'string' ? a : (b as string),
      });
      continue;
    }
    if (a.digest !== b.digest) result.mismatches.push(...diffDigests(userId, a, b));
  }
  return result;
}

/** Digests each user on both sides and names every record that differs. */
export async function compareUsers(
  from: RegionClient,
  to: RegionClient,
  service: string,
  userIds: readonly string[],
  digestKey: string,
): Promise<Comparison> {
  // Both sides at once: they are separate regions (separate machines in production).
  const [a, b] = await Promise.all([
    digestMany(from, service, userIds, digestKey),
    digestMany(to, service, userIds, digestKey),
  ]);
  return compareDigests(userIds, a, b);
}

/**
 * The source's side of a verification without decrypting the source again: what its copy
 * exported (ctx.copied), with every record its change log shows changed since the copy's
 * position read afresh from the source. The log holds every change (each write appends to it
 * in the write's own transaction), so this is what the source holds, as of the fresh reads;
 * Ghostferry's inline verifier rests on the same fact with the binlog.
 */
async function sourceFromCopy(ctx: BatchContext, upTo: number): Promise<Map<string, UserDigest | string>> {
  const { batch, copied } = ctx;
  const users = new Set(ctx.users.map((u) => u.userId));
  const changed = new Map<string, Map<string, { collection: string; key: string }>>();
  for (let seq = batch.copySeq ?? 0, more = true; more && seq < upTo; ) {
    const page = await readChangePage(ctx.source, seq, batch.service, 5_000);
    for (const c of page.changes) {
      if (!users.has(c.userId)) continue;
      const refs = changed.get(c.userId) ?? new Map<string, { collection: string; key: string }>();
      refs.set(refKey(c.collection, c.key), { collection: c.collection, key: c.key });
      changed.set(c.userId, refs);
    }
    seq = page.next;
    more = page.more;
  }
  const out = new Map<string, UserDigest | string>();
  for (const userId of users) {
    const rows = new Map(copied.rows.get(userId));
    const refs = changed.get(userId);
    if (refs) {
      const states = await ctx.source.readRecordStates({
        service: batch.service,
        userId,
        refs: [...refs.values()],
        digestKey: copied.digestKey,
      });
      for (const d of states.deleted) rows.delete(refKey(d.collection, d.key));
      for (const r of states.records)
        rows.set(refKey(r.collection, r.key), {
          collection: r.collection,
          key: r.key,
          version: r.version,
          hash: r.hash,
        });
    }
    out.set(userId, userDigest(userId, [...rows.values()]));
  }
  return out;
}

export interface PreVerified {
  /** The source's last sequence before the digests were made. */
  verifiedAt: number;
  /** Records that differed while the source changed them (in flight): verified again under the fence. */
  inFlight: Map<string, Map<string, { collection: string; key: string }>>;
  /** What the destination was found to hold, per user and record, equal to the source (in-flight records aside). */
  rows: VerifiedRows;
}

export function formatMismatches(mismatches: readonly RecordMismatch[], max = 5): string {
  const shown = mismatches
    .slice(0, max)
    .map((m) =>
      m.collection === '*'
        ? `user ${m.userId}: ${m.problem}`
        : `${m.userId} ${m.collection}/${withheldKey}: ${m.problem}`,
    );
  return `${shown.join('; ')}${mismatches.length > max ? `; and ${mismatches.length - max} more` : ''}`;
}

/** The failure of a verification: INTEGRITY, naming the records; the cut-over does not happen. */
export function refusedCutOver<T>(batch: BatchRecord, mismatches: RecordMismatch[]): PhaseResult<T> {
  const error = new DomicileError(
    'INTEGRITY',
    `verification of ${describeBatch(batch)} found ${mismatches.length} record(s) that differ between ${batch.source} and ${batch.destination}, so the cut-over is refused: ${formatMismatches(mismatches)}. Run \`domicile migrate resume\` to copy the batch again, or \`domicile migrate rollback\``,
    {
      details: { batch: batch.id, mismatches: mismatches.slice(0, 20) },
    },
  );
  return { ok: false, error, mismatches };
}

/**
 * Verify, while the users keep writing: every user's digest, on both sides (the source's from
 * its copy and its log when this process made the copy, see sourceFromCopy; the destination's
 * always read back from its store and decrypted there). A record that
 * differs and that the source changed since the catch-up is in flight, not wrong: it is
 * verified again under the fence. Any other difference stops the batch and is named.
 */
export async function verifyBatch(ctx: BatchContext, caughtUpTo: number): Promise<PhaseResult<PreVerified>> {
  const { batch } = ctx;
  try {
    const verifiedAt = (await ctx.source.health()).lastSeq;
    const userIds = ctx.users.map((u) => u.userId);
    const fromCopy = ctx.copied.complete && batch.copySeq !== null;
    // The source's side and the destination's at once: separate regions, separate machines.
    const [fromSource, toDestination] = await Promise.all([
      fromCopy ? sourceFromCopy(ctx, verifiedAt) : digestMany(ctx.source, batch.service, userIds, ctx.copied.digestKey),
      digestMany(ctx.destination, batch.service, userIds, ctx.copied.digestKey),
    ]);
    let cmp = compareDigests(userIds, fromSource, toDestination);
    if (fromCopy && cmp.mismatches.length > 0) {
      // The copy's hashes are a shortcut: before a difference fails the batch, the users it
      // names are digested in the source itself (a change no log shows, such as an erasure,
      // would otherwise stop the migration for nothing).
      const named = [...new Set(cmp.mismatches.map((m) => m.userId))];
      const fresh = await digestMany(ctx.source, batch.service, named, ctx.copied.digestKey);
      for (const id of named) fromSource.set(id, fresh.get(id)!);
      cmp = compareDigests(userIds, fromSource, toDestination);
    }
    const inFlight: PreVerified['inFlight'] = new Map();
    let real = cmp.mismatches;
    if (real.length > 0) {
      const users = new Set(ctx.users.map((u) => u.userId));
      const changed = new Set<string>();
      for (let seq = caughtUpTo, more = true; more; ) {
        const page = await readChangePage(ctx.source, seq, batch.service, 5_000);
        for (const c of page.changes)
          if (users.has(c.userId)) changed.add(`${c.userId}\u0000${refKey(c.collection, c.key)}`);
        seq = page.next;
        more = page.more;
      }
      real = [];
      for (const m of cmp.mismatches) {
        if (!changed.has(`${m.userId}\u0000${refKey(m.collection, m.key)}`)) {
          real.push(m);
          continue;
        }
        const refs = inFlight.get(m.userId) ?? new Map<string, { collection: string; key: string }>();
        refs.set(refKey(m.collection, m.key), { collection: m.collection, key: m.key });
        inFlight.set(m.userId, refs);
      }
    }
    if (real.length > 0) {
      await ctx.store.updateBatch(batch.migrationId, batch.id, {
        step: 'failed',
        failedStep: 'catching-up',
        mismatches: real,
        error: `verification found ${real.length} differing record(s): ${formatMismatches(real)}`,
      });
      return refusedCutOver(batch, real);
    }
    const rows: VerifiedRows = new Map();
    for (const [userId, digest] of cmp.digests) {
      const user = rowsOfDigest(digest);
      for (const id of inFlight.get(userId)?.keys() ?? []) user.delete(id);
      rows.set(userId, user);
    }
    return succeeded({ verifiedAt, inFlight, rows });
  } catch (err) {
    return failed(err, `verify of ${describeBatch(batch)} failed`);
  }
}
