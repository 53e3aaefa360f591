import { DomicileError } from '../../errors/domicile-error.js';
import type { Platform } from '../../platform/platform.js';
import { routeToHome } from '../../platform/route-to-home.js';
import { maxRecordPage } from '../../region/record-cursor.js';
import { hasParts } from '../../region/record-parts.js';
import type { RecordView, RegionClient, TenantRef } from '../../region/region-client.js';
import { isPhotoChunk } from './photo-sync.js';

/**
 * Incremental sync of a user's records of one service, by change token (a phone's contacts
 * and photo metadata in Mi Cloud, say). A token names where it was read: the home region, the
 * epoch the user was homed at there, and the position in that region's change log; and whose
 * sync of which service it is, so another user's or service's token only starts over. Given a
 * token, the user's changes since it are read from the change log (the records' current
 * states: a record changed twice comes once, a deleted one as a delete). A token from another
 * home (the user was migrated since) or none at all gets a full snapshot instead, `reset`.
 *
 * A snapshot is paged like the changes (at most `limit` records a page, `more` until its last):
 * it lists the service's collections one page at a time, leaving a photo's chunks out in the
 * store (never reading their 512 KiB bodies), so a sync's memory is bounded by its page whatever
 * the user holds. Its token carries where the listing is (collection and cursor) and the log's
 * position read before its first page, from which the changes go on after its last.
 */

export interface SyncChange {
  collection: string;
  key: string;
  op: 'put' | 'delete';
  /** The record's version now (for a delete: the last one it had). */
  version: number;
  value?: unknown;
  /** Why `value` is null: the record cannot be read back (see RecordView). */
  unreadable?: string;
}

export interface SyncPage {
  /**
   * True: forget what you hold of this service; `changes`, with those of the pages that follow
   * while `more` (each `reset: false`), are the whole of it.
   */
  reset: boolean;
  changes: SyncChange[];
  /** Ask again with this token; `more`: there is more to read now. */
  token: string;
  more: boolean;
}

/**
 * Region, epoch, change-log position; and whose sync of which service, so a token is good for
 * that one only. During a snapshot: the collection being listed (`c`) and the region's cursor in
 * it (`k`, none: from its start).
 */
interface Token {
  r: string;
  e: number;
  s: number;
  u: string;
  v: string;
  c?: string;
  k?: string;
}

function encodeToken(t: Token): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeToken(token: string): Token {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Token>;
    if (
      typeof t.r === 'string' &&
      typeof t.u === 'string' &&
      typeof t.v === 'string' &&
      Number.isSafeInteger(t.e) &&
      Number.isSafeInteger(t.s) &&
      t.s! >= 0 &&
      (t.c === undefined || typeof t.c === 'string') &&
      (t.k === undefined || (typeof t.k === 'string' && t.c !== undefined))
    )
      return t as Token;
  } catch {
    // named below
  }
  throw new DomicileError(
    'BAD_REQUEST',
    'the sync token is not one this service gave: sync again without ?since to start over',
  );
}

/**
 * Records not a device's to sync: collections the platform keeps for itself (the consent ledger,
 * `_consent`), and the chunks of photos (their manifests are synced; their bytes are downloaded).
 */
function internal(collection: string, key: string): boolean {
  return collection.startsWith('_') || isPhotoChunk(collection, key);
}

function marker(view: RecordView): { unreadable?: string } {
  return view.unreadable === undefined ? {} : { unreadable: view.unreadable };
}

/** The collections a snapshot lists, in a fixed order: the service's categories (the platform's own, `_…`, are not among them). */
function snapshotCollections(platform: Platform, service: string): string[] {
  const categories = platform.policy.services.find((s) => s.id === service)?.categories ?? [];
  return categories
    .map((c) => c.id)
    .filter((c) => !c.startsWith('_'))
    .sort();
}

/** One page of a snapshot, from `at` (a collection and the cursor in it) on; at most `limit` records. */
async function snapshotPage(
  client: RegionClient,
  ref: TenantRef,
  collections: string[],
  at: { index: number; cursor?: string },
  limit: number,
  base: Token,
): Promise<SyncPage> {
  let index = at.index;
  let cursor = at.cursor;
  const changes: SyncChange[] = [];
  while (index < collections.length && changes.length < limit) {
    const collection = collections[index]!;
    const page = await client.listRecordPage({
      ...ref,
      collection,
      limit: Math.min(limit - changes.length, maxRecordPage),
      withoutParts: hasParts(ref.service, collection),
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const r of page.records)
      if (!internal(r.collection, r.key))
        changes.push({
          collection: r.collection,
          key: r.key,
          op: 'put',
          version: r.version,
          value: r.value,
          ...marker(r),
        });
    if (page.cursor === null) {
      index++;
      cursor = undefined;
    } else cursor = page.cursor;
  }
  const more = index < collections.length;
  const { c: _c, k: _k, ...log } = base;
  const token: Token = more ? { ...log, c: collections[index]!, ...(cursor === undefined ? {} : { k: cursor }) } : log;
  return { reset: at.index === 0 && at.cursor === undefined, more, changes, token: encodeToken(token) };
}

export async function syncRecords(
  platform: Platform,
  userId: string,
  service: string,
  since: string | undefined,
  limit: number,
): Promise<SyncPage> {
  const from = since === undefined ? undefined : decodeToken(since);
  // routeToHome answers NOT_FOUND for a user with no home for the service.
  return routeToHome(platform, userId, service, async (client, ref) => {
    const collections = snapshotCollections(platform, service);
    const listing = from?.c === undefined ? -1 : collections.indexOf(from.c);
    if (
      !from ||
      from.r !== client.regionId ||
      from.e !== ref.epoch ||
      from.u !== userId ||
      from.v !== service ||
      (from.c !== undefined && listing < 0)
    ) {
      // The log's position is read before the records: a change after it is sent again next time, never missed.
      const { lastSeq } = await client.changesSince({ afterSeq: 0, limit: 1, service, userId });
      return snapshotPage(client, ref, collections, { index: 0 }, limit, {
        r: client.regionId,
        e: ref.epoch,
        s: lastSeq,
        u: userId,
        v: service,
      });
    }
    // A snapshot under way: its next page.
    if (from.c !== undefined)
      return snapshotPage(
        client,
        ref,
        collections,
        { index: listing, ...(from.k === undefined ? {} : { cursor: from.k }) },
        limit,
        from,
      );
    // With the epoch: a region the user has left says so (and this is re-routed) rather than answer "no changes".
    const page = await client.changesSince({ afterSeq: from.s, limit, service, userId, epoch: ref.epoch });
    const more = page.changes.length === limit;
    const next = more ? page.changes.at(-1)!.seq : page.lastSeq;
    // One entry per record, at its state now.
    const touched = new Map<string, { collection: string; key: string; version: number }>();
    for (const c of page.changes) if (!internal(c.collection, c.key)) touched.set(`${c.collection}\u0000${c.key}`, c);
    const changes: SyncChange[] = [];
    for (const t of touched.values()) {
      const now = await client.getRecord({ ...ref, collection: t.collection, key: t.key });
      changes.push(
        now
          ? { collection: t.collection, key: t.key, op: 'put', version: now.version, value: now.value, ...marker(now) }
          : { collection: t.collection, key: t.key, op: 'delete', version: t.version },
      );
    }
    return {
      reset: false,
      more,
      changes,
      token: encodeToken({ r: client.regionId, e: ref.epoch, s: next, u: userId, v: service }),
    };
  });
}
