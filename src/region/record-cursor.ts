import { DomicileError } from '../errors/domicile-error.js';

/**
 * The cursor of a paged listing: where the last page ended in the store's own order (its
 * collection and the stored `key` column, whatever that column holds: the client's key today,
 * a keyed hash of it once keys rest hashed), base64url'd. Clients treat it as opaque; its
 * version tag lets a later format refuse an older cursor clearly instead of misreading it.
 */

/** Most records a region gives in one page. */
export const maxRecordPage = 1000;

const version = 'p1';

export function encodeRecordCursor(collection: string, storedKey: string): string {
  return Buffer.from(JSON.stringify([version, collection, storedKey]), 'utf8').toString('base64url');
}

/** The stored key to list after, or undefined for the first page; BAD_REQUEST for a cursor this listing did not give. */
export function decodeRecordCursor(cursor: unknown, collection: string): string | undefined {
  if (cursor === undefined) return undefined;
  if (typeof cursor === 'string' && cursor.length <= 2048 && /^[A-Za-z0-9_-]+$/.test(cursor)) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (Array.isArray(parsed) && parsed.length === 3 && parsed[0] === version && parsed[1] === collection && typeof parsed[2] === 'string') return parsed[2];
    } catch {
      // named below
    }
  }
  throw new DomicileError('BAD_REQUEST', 'the cursor is not one this listing gave: list again without it to start from the first page', { details: { field: 'cursor' } });
}

/** A page size: a whole number from 1 to maxRecordPage. */
export function checkPageLimit(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > maxRecordPage) {
    throw new DomicileError('BAD_REQUEST', `limit is a whole number of records from 1 to ${maxRecordPage}`, { details: { field: 'limit' } });
  }
  return value;
}
