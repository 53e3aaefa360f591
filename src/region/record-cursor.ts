import { DomicileError } from '../errors/domicile-error.js';

/**
 * The cursor of a paged listing: where the last page ended in the store's own order (its
 * collection and the stored `key` column: a keyId under the serving region's user key),
 * base64url'd, with the region and the epoch that gave it. Another region (the user's new home
 * after a cut-over between two pages), or this one at another epoch, holds unrelated keyIds: it
 * refuses the cursor rather than skip or repeat records silently. Clients treat it as opaque; its
 * version tag lets a later format refuse an older cursor clearly instead of misreading it.
 */

/** The region and epoch a listing is served at. */
export interface CursorScope {
  regionId: string;
  epoch: number;
}

/** Most records a region gives in one page. */
export const maxRecordPage = 1000;

const version = 'p2';

export function encodeRecordCursor(scope: CursorScope, collection: string, storedKey: string): string {
  return Buffer.from(JSON.stringify([version, scope.regionId, scope.epoch, collection, storedKey]), 'utf8').toString(
    'base64url',
  );
}

/**
 * The stored key to list after, or undefined for the first page; BAD_REQUEST for a cursor this
 * listing did not give, or one given by another region or at another epoch (the listing moved).
 */
export function decodeRecordCursor(cursor: unknown, collection: string, scope: CursorScope): string | undefined {
  if (cursor === undefined) return undefined;
  if (typeof cursor === 'string' && cursor.length <= 2048 && /^[A-Za-z0-9_-]+$/.test(cursor)) {
    let parsed: unknown;
    try {
      const bytes = Buffer.from(cursor, 'base64url');
      // Only the cursor as given: a character more or less that decodes to the same bytes is not it.
      if (bytes.toString('base64url') === cursor) parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      // named below
    }
    if (
      Array.isArray(parsed) &&
      parsed.length === 5 &&
      parsed[0] === version &&
      typeof parsed[1] === 'string' &&
      Number.isSafeInteger(parsed[2]) &&
      parsed[3] === collection &&
      typeof parsed[4] === 'string'
    ) {
      if (parsed[1] !== scope.regionId || parsed[2] !== scope.epoch) {
        throw new DomicileError(
          'BAD_REQUEST',
          'the listing moved; list again from the start, without a cursor (the data was moved to another home since its first page)',
          { details: { field: 'cursor' } },
        );
      }
      return parsed[4];
    }
  }
  throw new DomicileError(
    'BAD_REQUEST',
    'the cursor is not one this listing gave: list again without it to start from the first page',
    { details: { field: 'cursor' } },
  );
}
