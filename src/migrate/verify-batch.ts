import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import type { RegionClient, UserDigest } from '../region/region-client.js';
import { readChangePage } from './apply-changes.js';
import type { BatchRecord } from './coordinator-store.js';
import { refKey, rowsOfDigest, type VerifiedRows } from './verified-rows.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';
import { describeBatch, failed, succeeded, type BatchContext, type PhaseResult } from './batch-context.js';
import type { RecordMismatch } from './migration-types.js';

export interface Comparison {
  mismatches: RecordMismatch[];
  /** The digests of the side that is (or becomes) the home, per user, where they could be made. */
  digests: Map<string, UserDigest>;
}

async function digestOrProblem(region: RegionClient, service: string, userId: string): Promise<UserDigest | string> {
  try {
    return await region.digestUser({ service, userId });
  } catch (err) {
    // A record that fails to open (INTEGRITY) is a mismatch to name, not a crash of the engine.
    if (isDomicileError(err, 'INTEGRITY')) return `${region.regionId}: ${err.message}`;
    throw err;
  }
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
    const problem = !d ? 'missing in the destination'
      : !s ? 'in the destination only (deleted in the source)'
      : s.version !== d.version ? `version ${s.version} in the source, ${d.version} in the destination`
      : `content differs at version ${s.version}`;
    out.push({
      userId, collection: ref.collection, key: ref.key, problem,
      source: s ? { version: s.version, hash: s.hash } : null,
      destination: d ? { version: d.version, hash: d.hash } : null,
    });
  }
  if (out.length === 0 && a.digest !== b.digest) {
    out.push({ userId, collection: '*', key: '*', source: null, destination: null, problem: `user digests differ (${a.digest} / ${b.digest}) with equal records` });
  }
  return out;
}

/** Digests each user on both sides and names every record that differs. */
export async function compareUsers(from: RegionClient, to: RegionClient, service: string, userIds: Iterable<string>): Promise<Comparison> {
  const result: Comparison = { mismatches: [], digests: new Map() };
  for (const userId of userIds) {
    const a = await digestOrProblem(from, service, userId);
    const b = await digestOrProblem(to, service, userId);
    if (typeof b !== 'string') result.digests.set(userId, b);
    if (typeof a === 'string' || typeof b === 'string') {
      result.mismatches.push({ userId, collection: '*', key: '*', source: null, destination: null, problem: typeof a === 'string' ? a : (b as string) });
      continue;
    }
    if (a.digest !== b.digest) result.mismatches.push(...diffDigests(userId, a, b));
    await yieldToEventLoop();
  }
  return result;
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
  const shown = mismatches.slice(0, max).map((m) => (m.collection === '*' ? `user ${m.userId}: ${m.problem}` : `${m.userId} ${m.collection}/${m.key}: ${m.problem}`));
  return `${shown.join('; ')}${mismatches.length > max ? `; and ${mismatches.length - max} more` : ''}`;
}

/** The failure of a verification: INTEGRITY, naming the records; the cut-over does not happen. */
export function refusedCutOver<T>(batch: BatchRecord, mismatches: RecordMismatch[]): PhaseResult<T> {
  const error = new DomicileError('INTEGRITY', `verification of ${describeBatch(batch)} found ${mismatches.length} record(s) that differ between ${batch.source} and ${batch.destination}, so the cut-over is refused: ${formatMismatches(mismatches)}. Run \`domicile migrate resume\` to copy the batch again, or \`domicile migrate rollback\``, {
    details: { batch: batch.id, mismatches: mismatches.slice(0, 20) },
  });
  return { ok: false, error, mismatches };
}

/**
 * Verify, while the users keep writing: every user's digest, on both sides. A record that
 * differs and that the source changed since the catch-up is in flight, not wrong: it is
 * verified again under the fence. Any other difference stops the batch and is named.
 */
export async function verifyBatch(ctx: BatchContext, caughtUpTo: number): Promise<PhaseResult<PreVerified>> {
  const { batch } = ctx;
  try {
    const verifiedAt = (await ctx.source.health()).lastSeq;
    const cmp = await compareUsers(ctx.source, ctx.destination, batch.service, ctx.users.map((u) => u.userId));
    const inFlight: PreVerified['inFlight'] = new Map();
    let real = cmp.mismatches;
    if (real.length > 0) {
      const users = new Set(ctx.users.map((u) => u.userId));
      const changed = new Set<string>();
      for (let seq = caughtUpTo, more = true; more;) {
        const page = await readChangePage(ctx.source, seq, batch.service, 5_000);
        for (const c of page.changes) if (users.has(c.userId)) changed.add(`${c.userId}\u0000${refKey(c.collection, c.key)}`);
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
      ctx.store.updateBatch(batch.migrationId, batch.id, { step: 'failed', failedStep: 'catching-up', mismatches: real, error: `verification found ${real.length} differing record(s): ${formatMismatches(real)}` });
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
