import { randomBytes } from 'node:crypto';

/** A random, unguessable id with a type prefix: u_… users, s_… sessions, m_… migrations. */
export function newId(prefix: string, bytes = 12): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}
