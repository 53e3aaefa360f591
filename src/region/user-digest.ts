import { createHash, createHmac } from 'node:crypto';
import type { UserDigest } from './region-client.js';

/**
 * The key of a call that names none (tools and tests comparing one region's answers): public,
 * so a hash under it is no better than unkeyed; the coordinator sends a random one per batch.
 */
const publicDigestKey = Buffer.from('domicile/record-hash/v1/no-key');

/**
 * A request's digestKey: 32 random bytes in hex, chosen by the coordinator for a batch (or a
 * comparison) and sent to both regions, so their hashes compare, while a hash that rests in
 * the coordinator's state or crosses a border cannot be looked up in a precomputed table.
 */
/** A request's digest key (hex, as the region contract checks it) as bytes; none: the public key. */
export function digestKeyBytes(hex: string | undefined): Buffer {
  return hex === undefined ? publicDigestKey : Buffer.from(hex, 'hex');
}

/**
 * The digest a migration verifies a copy with: per record, HMAC-SHA-256 (hex) of its decrypted
 * plaintext JSON under the request's digest key (see digestKeyBytes); overall, SHA-256 of the list of (collection, key, version, hash) sorted by
 * collection then key. Computed on plaintext, never ciphertext: each region seals under its
 * own keys with random IVs, so equal data has unequal ciphertexts, and a digest of them would
 * prove nothing. The plaintext is the value's JSON.stringify, and a copy carries the parsed
 * value and stringifies it again, which gives back the same bytes (JSON.stringify of
 * JSON.parse of its own output is that output), so the same data digests equally anywhere.
 */
export function plainHash(plain: Buffer, digestKey: Buffer = publicDigestKey): string {
  // Keyed: a short plaintext (a phone number) is not found again from its hash by enumeration.
  return createHmac('sha256', digestKey).update(plain).digest('hex');
}

export interface DigestRow {
  collection: string;
  key: string;
  version: number;
  hash: string;
}

export function userDigest(userId: string, records: readonly DigestRow[]): UserDigest {
  // Code-unit order, not the store's: SQLite and PostgreSQL collate differently.
  const rows = [...records].sort((a, b) => compare(a.collection, b.collection) || compare(a.key, b.key));
  // A JSON array of tuples: unambiguous whatever the names hold, unlike a joined string.
  const list = JSON.stringify(['domicile/user-digest/v1', rows.map((r) => [r.collection, r.key, r.version, r.hash])]);
  return { userId, digest: createHash('sha256').update(list, 'utf8').digest('hex'), records: rows };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
