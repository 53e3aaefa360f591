import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { UserDigest } from './region-client.js';

/**
 * The digest a migration verifies a copy with: per record, SHA-256 (hex) of the canonical JSON
 * of its decrypted value; overall, SHA-256 of the list of (collection, key, version, hash)
 * sorted by collection then key. Computed on plaintext, never ciphertext: each region seals
 * under its own keys with random IVs, so equal data has unequal ciphertexts, and a digest of
 * them would prove nothing. Deterministic, so the same logical data digests equally anywhere.
 */
export function recordHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}

export interface DigestInput {
  collection: string;
  key: string;
  version: number;
  value: unknown;
}

export function userDigest(userId: string, records: readonly DigestInput[]): UserDigest {
  const rows = records
    .map((r) => ({ collection: r.collection, key: r.key, version: r.version, hash: recordHash(r.value) }))
    // Code-unit order, not the store's: SQLite and PostgreSQL collate differently.
    .sort((a, b) => compare(a.collection, b.collection) || compare(a.key, b.key));
  // A JSON array of tuples: unambiguous whatever the names hold, unlike a joined string.
  const list = JSON.stringify(['domicile/user-digest/v1', rows.map((r) => [r.collection, r.key, r.version, r.hash])]);
  return { userId, digest: createHash('sha256').update(list, 'utf8').digest('hex'), records: rows };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
