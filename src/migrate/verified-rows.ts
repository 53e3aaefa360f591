import { createHash } from 'node:crypto';
import type { UserDigest } from '../region/region-client.js';

/** One record as verified: its version and the SHA-256 of its plaintext JSON (as digestUsers makes it). */
export interface VerifiedRow {
  collection: string;
  key: string;
  version: number;
  hash: string;
}

/** Per user, per record ([collection, key]), what both sides were found to hold. */
export type VerifiedRows = Map<string, Map<string, VerifiedRow>>;

/**
 * What the source exported of a batch's users, per record: version and plaintext hash, as the
 * source computed them while it decrypted them for the copy. The engine keeps it in memory
 * from the copy to the cut-over, so the verification need not decrypt the whole source again
 * (only the records its log shows changed since). `complete` once every user was exported by
 * this process; a restarted process has none, and digests the source whole instead.
 */
export interface CopiedRows {
  rows: VerifiedRows;
  complete: boolean;
  /**
   * The batch's digest key (32 random bytes, hex), sent with every export, digest and record
   * read of the batch, so both regions' hashes compare while none is SHA-256 of a plaintext
   * (see digestKeyBytes). Chosen when this process first works on the batch.
   */
  digestKey: string;
}

export function refKey(collection: string, key: string): string {
  return `${collection}\u0000${key}`;
}

export function rowsOfDigest(digest: UserDigest): Map<string, VerifiedRow> {
  return new Map(digest.records.map((r) => [refKey(r.collection, r.key), { ...r }]));
}

/**
 * One digest for a batch as it was cut over: SHA-256 over every user's verified records,
 * in user then collection then key order, one line `user \t collection \t key \t version \t
 * hash` each. Recorded with the transfer, so an auditor can tell what moved.
 */
export function batchDigest(rows: VerifiedRows): { digest: string; records: number } {
  const hash = createHash('sha256');
  let records = 0;
  const byCode = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  for (const userId of [...rows.keys()].sort(byCode)) {
    const user = rows.get(userId)!;
    for (const id of [...user.keys()].sort(byCode)) {
      const r = user.get(id)!;
      hash.update(`${userId}\t${r.collection}\t${r.key}\t${r.version}\t${r.hash}\n`);
      records++;
    }
  }
  return { digest: hash.digest('hex'), records };
}
