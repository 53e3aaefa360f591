/**
 * Records the platform writes on a user's behalf, which the user reads (and may delete) through
 * the records API but never writes there: a forged order would look like a unit won in a flash
 * sale, a forged inbox message like one somebody sent.
 */
const platformWritten: ReadonlyArray<{ service: string; collection: string; prefixes: readonly string[]; by: string }> = [
  { service: 'shop', collection: 'orders', prefixes: ['sale-'], by: 'flash sales (POST /v1/shop/sales/{id}/claims)' },
  { service: 'messaging', collection: 'messages', prefixes: ['in-', 'out-'], by: 'Cloud Messaging (POST /v1/me/messages)' },
  { service: 'cloud', collection: 'photos', prefixes: ['ph_'], by: 'photo sync (POST /v1/me/photos)' },
];

/** Who writes this record, when it is the platform's to write; undefined when it is the user's. */
export function platformWriter(service: string, collection: string, key: string): string | undefined {
  return platformWritten.find((p) => p.service === service && p.collection === collection && p.prefixes.some((prefix) => key.startsWith(prefix)))?.by;
}
