import { takeRandomBytes } from './random-pool.js';

/** A random, unguessable id with a type prefix: u_… users, s_… sessions, m_… migrations. */
export function newId(prefix: string, bytes = 12): string {
  return `${prefix}_${takeRandomBytes(bytes).toString('base64url')}`;
}
