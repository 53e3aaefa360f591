/**
 * Records the platform writes on a user's behalf, which the user reads (and, unless said
 * otherwise, deletes) through the records API but never writes there: a forged order would look
 * like a unit won in a flash sale, a forged inbox message like one somebody sent. A photo is a
 * manifest and its chunks, which count against the user's photo quota: the records API neither
 * writes nor deletes any of them (a manifest deleted alone would leave its chunks uncounted).
 */
interface PlatformWritten {
  service: string;
  collection: string;
  /** The keys it writes; none: every key of the collection. */
  prefixes?: readonly string[];
  by: string;
  /** Where a user deletes them instead, when not through the records API. */
  deletedBy?: string;
}

const platformWritten: readonly PlatformWritten[] = [
  { service: 'shop', collection: 'orders', prefixes: ['sale-'], by: 'flash sales (POST /v1/shop/sales/{id}/claims)' },
  {
    service: 'messaging',
    collection: 'messages',
    prefixes: ['in-', 'out-'],
    by: 'Cloud Messaging (POST /v1/me/messages)',
  },
  {
    service: 'cloud',
    collection: 'photos',
    by: 'photo sync (POST /v1/me/photos)',
    deletedBy: 'DELETE /v1/me/photos/{id}',
  },
];

function find(service: string, collection: string, key: string): PlatformWritten | undefined {
  return platformWritten.find(
    (p) =>
      p.service === service &&
      p.collection === collection &&
      (p.prefixes === undefined || p.prefixes.some((prefix) => key.startsWith(prefix))),
  );
}

/** Why the records API does not write this record, when it is the platform's to write; undefined when it is the user's. */
export function platformWriteRefusal(service: string, collection: string, key: string): string | undefined {
  const p = find(service, collection, key);
  if (!p) return undefined;
  return p.prefixes === undefined
    ? `${service}/${collection} is written by ${p.by} alone, not through the records API${p.deletedBy ? ` (delete with ${p.deletedBy})` : ''}`
    : `${service}/${collection}/${key} is written by ${p.by}, not through the records API: use another key`;
}

/** Why the records API does not delete this record, when the platform deletes it elsewhere; undefined when the user may. */
export function platformDeleteRefusal(service: string, collection: string, key: string): string | undefined {
  const p = find(service, collection, key);
  if (!p?.deletedBy) return undefined;
  return `${service}/${collection} is deleted by ${p.deletedBy} alone, with its parts, not through the records API (written by ${p.by})`;
}
