import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import { jsonTextDepth, maxJsonDepth, nestsDeeperThan } from '../shared/json-depth.js';
import type { StoredRecord } from '../store/region-store.js';
import type { RecordView } from './region-client.js';

/**
 * A record's value on its way in and out of a region, kept serialisable: a write nests at most
 * `maxJsonDepth` levels (checked before it is sealed, whoever the caller); a read of a value
 * stored before that limit, too deep for the serialisers after it (an HTTP answer, the region's
 * own server, an export), gives the record without its value and says why, so the rest of a
 * listing or an export is still given.
 */

/** Deepest value a read gives: far under the ~4,000 levels at which JSON.stringify overflows, with room for the envelopes around it. */
export const maxReadableDepth = 1000;

/** BAD_REQUEST for a value's JSON nesting deeper than `limit`. */
export function checkValueDepth(json: Buffer, limit = maxJsonDepth): void {
  const depth = jsonTextDepth(json.toString('utf8'));
  if (depth > limit) {
    throw new DomicileError(
      'BAD_REQUEST',
      `a record value nests ${depth} levels deep; at most ${limit} levels of arrays and objects are allowed: flatten it`,
      {
        details: { field: 'value', limit },
      },
    );
  }
}

/**
 * The record as read, named by the client's key (the store holds its keyId), or without its
 * value (null) and with `unreadable` when the value nests too deep to be given.
 */
export function readableView(record: StoredRecord, key: string, value: unknown, limit = maxReadableDepth): RecordView {
  const view = { collection: record.collection, key, version: record.version, updatedAt: record.updatedAt };
  if (!nestsDeeperThan(value, limit)) return { ...view, value };
  return {
    ...view,
    value: null,
    unreadable: `the value nests deeper than ${limit} levels, stored before values were limited to ${maxJsonDepth}: write it again, flattened`,
  };
}

/**
 * For the owner's export: a record whose sealed value fails to open (INTEGRITY) is given without
 * its value, marked, instead of failing the whole export (a read or a listing still fails with
 * INTEGRITY). A blob file that is missing or changed fails the store's own listing still.
 */
export async function listedView(
  record: StoredRecord,
  key: string,
  open: () => Promise<unknown>,
  limit = maxReadableDepth,
): Promise<RecordView> {
  try {
    return readableView(record, key, await open(), limit);
  } catch (err) {
    if (!isDomicileError(err, 'INTEGRITY')) throw err;
    return {
      collection: record.collection,
      key,
      version: record.version,
      updatedAt: record.updatedAt,
      value: null,
      unreadable:
        "the stored value failed its integrity check: the operator has been told (see the region's log); write it again",
    };
  }
}
