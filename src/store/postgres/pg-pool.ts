import pg from 'pg';
import { DomicileError } from '../../errors/domicile-error.js';

/** int8 as number: every bigint Domicile keeps (seqs, versions, epochs, times) stays far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/**
 * A pool on one of Domicile's PostgreSQL databases (a region's store, the directory), the one
 * way they are all opened: bigints as numbers, an optional schema of its own (a plain identifier,
 * checked: it goes into the connection's options), and idle connections the server drops never
 * crashing the process.
 */
export function openPgPool(options: { url: string; schema?: string | undefined; size?: number; what: string }): pg.Pool {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
    throw new DomicileError('BAD_REQUEST', `${options.what}'s schema is a plain lower-case identifier, not "${options.schema}"`);
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.size ?? 10,
    types,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', () => undefined);
  return pool;
}

/** host:port/database of a URL, to name it in messages (never its credentials). */
export function pgWhere(url: string): string {
  const at = new URL(url);
  return `${at.host}${at.pathname}`;
}
