/**
 * The collections whose records have parts: a photo's manifest (`cloud/photos/<id>`) and its
 * chunks (`<id>~<index>`, 512 KiB each). Listings, sync snapshots and exports leave the parts out
 * in the store (their keyIds keep the part mark), never reading their bodies; elsewhere a key may
 * hold a `~` like any other character, and is listed.
 */
const withParts: ReadonlyArray<{ service: string; collection: string }> = [{ service: 'cloud', collection: 'photos' }];

/** True for a collection whose records have parts (`<id>~<index>`): listings leave them out. */
export function hasParts(service: string, collection: string): boolean {
  return withParts.some((c) => c.service === service && c.collection === collection);
}
