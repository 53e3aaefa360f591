import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DomicileError, isDomicileError } from '../../errors/domicile-error.js';
import type { Platform } from '../../platform/platform.js';
import { routeToHome } from '../../platform/route-to-home.js';
import { maxRecordPage } from '../../region/record-cursor.js';
import { partMark } from '../../region/record-names.js';
import type { RegionClient, TenantRef } from '../../region/region-client.js';
import { KeyedLock } from '../../shared/keyed-lock.js';
import { newId } from '../../shared/new-id.js';

/**
 * Mi Cloud's photo sync: large files uploaded in chunks that survive an interruption (the
 * phone asks which chunks arrived and sends the rest), downloaded with byte ranges.
 *
 * A photo rests in the user's home region for `cloud` as records of its `photos` category: a
 * manifest (`photos/<id>`) and one record per 512 KiB chunk (`photos/<id>~000001`), each sealed
 * like every record (AES-256-GCM under the user's photos key, bound to region, user and key),
 * behind the same `cloud-backup` consent, moved by migrations with the service and erased with
 * the user. A chunk's sealed value is far over the blob threshold, so on a SQLite region it rests
 * as a file of the region's blob store (store.db-blobs/, see blob-spilling-store.ts) and the
 * database holds a reference to it; a PostgreSQL region keeps it in its database.
 */

/** 512 KiB: a chunk's base64 stays under a record's 1 MiB limit. */
export const photoChunkSize = 512 * 1024;
export const maxPhotoBytes = 2 * 1024 * 1024 * 1024;
/** The photo bytes a user may keep by default (5 GiB, Mi Cloud's free tier); `domicile up --photo-quota` changes it. */
export const defaultPhotoQuotaBytes = 5 * 1024 * 1024 * 1024;
const service = 'cloud';
const collection = 'photos';

export interface PhotoManifest {
  id: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  chunkSize: number;
  chunks: number;
  /** Chunks received so far, while uploading. */
  received: number[];
  state: 'uploading' | 'complete';
  createdAt: number;
  completedAt: number | null;
}

function chunkKey(photoId: string, index: number): string {
  return `${photoId}${partMark}${String(index).padStart(6, '0')}`;
}

/** A photo's chunk records are its parts, not records of their own: sync and listings skip them. */
export function isPhotoChunk(collectionName: string, key: string): boolean {
  return collectionName === collection && key.includes(partMark);
}

export { hasParts } from '../../region/record-parts.js';

function asManifest(value: unknown, photoId: string): PhotoManifest {
  const m = value as Partial<PhotoManifest> | null;
  if (!m || typeof m !== 'object' || m.id !== photoId || typeof m.size !== 'number' || !Array.isArray(m.received)) {
    throw new DomicileError('NOT_FOUND', `no photo ${photoId}`);
  }
  return m as PhotoManifest;
}

function inHome<T>(
  platform: Platform,
  userId: string,
  fn: (client: RegionClient, ref: TenantRef) => Promise<T>,
): Promise<T> {
  return routeToHome(platform, userId, service, fn);
}

async function readManifest(
  client: RegionClient,
  ref: TenantRef,
  photoId: string,
): Promise<{ manifest: PhotoManifest; version: number }> {
  const record = await client.getRecord({ ...ref, collection, key: photoId });
  if (!record) throw new DomicileError('NOT_FOUND', `no photo ${photoId}: start an upload with POST /v1/me/photos`);
  return { manifest: asManifest(record.value, photoId), version: record.version };
}

/**
 * What of a manifest the quota counts: its own id, and a declared size that a photo may have. A
 * record that is not such a manifest (none can be written now: the records API refuses the
 * collection) neither takes room away nor gives any: a negative size would lift the quota.
 */
const countedManifest = z.object({ id: z.string(), size: z.number().int().min(1).max(maxPhotoBytes) });

/** The bytes of every photo the user holds or is uploading (their declared sizes), from their manifests alone. */
async function photoBytesHeld(client: RegionClient, ref: TenantRef): Promise<number> {
  let total = 0;
  let cursor: string | undefined;
  do {
    const page = await client.listRecordPage({
      ...ref,
      collection,
      limit: maxRecordPage,
      withoutParts: true,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const record of page.records) {
      const manifest = countedManifest.safeParse(record.value);
      if (manifest.success && manifest.data.id === record.key) total += manifest.data.size;
    }
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return total;
}

/** QUOTA_EXCEEDED when `size` more bytes would take the user's photos past `quotaBytes`. */
async function checkQuota(client: RegionClient, ref: TenantRef, size: number, quotaBytes: number): Promise<void> {
  const used = await photoBytesHeld(client, ref);
  if (used + size > quotaBytes) {
    throw new DomicileError(
      'QUOTA_EXCEEDED',
      `this photo (${size} bytes) would take your photos past their quota of ${quotaBytes} bytes (${used} used): delete photos to make room`,
      {
        details: { limit: quotaBytes, used, size },
      },
    );
  }
}

/**
 * A user's upload starts, one at a time per gateway process. Several gateways can still each let
 * one start pass the same check at once (the quota overrun is then at most one photo per gateway);
 * closing that needs the check and the manifest's write in one region transaction.
 */
const uploadStarts = new KeyedLock();

export async function startUpload(
  platform: Platform,
  userId: string,
  req: { name: string; contentType: string; size: number; sha256: string },
  quotaBytes = defaultPhotoQuotaBytes,
): Promise<PhotoManifest> {
  const chunks = Math.max(1, Math.ceil(req.size / photoChunkSize));
  const manifest: PhotoManifest = {
    id: newId('ph'),
    name: req.name,
    contentType: req.contentType,
    size: req.size,
    sha256: req.sha256.toLowerCase(),
    chunkSize: photoChunkSize,
    chunks,
    received: [],
    state: 'uploading',
    createdAt: Date.now(),
    completedAt: null,
  };
  // Checked against the declared sizes of every photo held or uploading, so chunks can never
  // exceed it; one start of a user's at a time in this process, so starts at once cannot all pass
  // the same check (gateways behind a load balancer each hold their own lock: see uploadStarts).
  await uploadStarts.run(userId, () =>
    inHome(platform, userId, async (client, ref) => {
      await checkQuota(client, ref, req.size, quotaBytes);
      await client.putRecord({ ...ref, collection, key: manifest.id, value: manifest, ifVersion: 0 });
    }),
  );
  return manifest;
}

/** Stores one chunk (again, if it was sent before), and notes it in the manifest. */
export async function putChunk(
  platform: Platform,
  userId: string,
  photoId: string,
  index: number,
  bytes: Buffer,
): Promise<{ received: number; missing: number }> {
  return inHome(platform, userId, async (client, ref) => {
    let current = await readManifest(client, ref, photoId);
    const { manifest } = current;
    if (manifest.state === 'complete')
      throw new DomicileError('CONFLICT', `photo ${photoId} is complete: upload a new one to change it`);
    if (!Number.isInteger(index) || index < 0 || index >= manifest.chunks)
      throw new DomicileError('BAD_REQUEST', `photo ${photoId} has chunks 0 to ${manifest.chunks - 1}, not ${index}`);
    const expected = index === manifest.chunks - 1 ? manifest.size - index * manifest.chunkSize : manifest.chunkSize;
    if (bytes.length !== expected)
      throw new DomicileError(
        'BAD_REQUEST',
        `chunk ${index} of photo ${photoId} is ${expected} bytes, not ${bytes.length}`,
      );
    await client.putRecord({
      ...ref,
      collection,
      key: chunkKey(photoId, index),
      value: { d: bytes.toString('base64') },
    });
    // The manifest is written under the version read: two chunks arriving at once both count
    // (the loser of the race reads it again).
    for (;;) {
      const { received } = current.manifest;
      if (received.includes(index))
        return { received: received.length, missing: current.manifest.chunks - received.length };
      const now = [...received, index].sort((a, b) => a - b);
      try {
        await client.putRecord({
          ...ref,
          collection,
          key: photoId,
          value: { ...current.manifest, received: now },
          ifVersion: current.version,
        });
        return { received: now.length, missing: current.manifest.chunks - now.length };
      } catch (err) {
        if (!isDomicileError(err, 'CONFLICT')) throw err;
      }
      current = await readManifest(client, ref, photoId);
    }
  });
}

export async function getManifest(
  platform: Platform,
  userId: string,
  photoId: string,
): Promise<PhotoManifest & { missing: number[] }> {
  const { manifest } = await inHome(platform, userId, (client, ref) => readManifest(client, ref, photoId));
  const have = new Set(manifest.received);
  return { ...manifest, missing: Array.from({ length: manifest.chunks }, (_, i) => i).filter((i) => !have.has(i)) };
}

async function readChunk(client: RegionClient, ref: TenantRef, photoId: string, index: number): Promise<Buffer> {
  const record = await client.getRecord({ ...ref, collection, key: chunkKey(photoId, index) });
  const d = (record?.value as { d?: unknown } | null)?.d;
  if (typeof d !== 'string')
    throw new DomicileError(
      'CONFLICT',
      `chunk ${index} of photo ${photoId} has not arrived: send it, then complete again`,
    );
  return Buffer.from(d, 'base64');
}

/** Checks every chunk is there and their bytes hash to the declared SHA-256, then marks the photo complete. */
export async function completeUpload(platform: Platform, userId: string, photoId: string): Promise<PhotoManifest> {
  return inHome(platform, userId, async (client, ref) => {
    const { manifest, version } = await readManifest(client, ref, photoId);
    if (manifest.state === 'complete') return manifest;
    const missing = manifest.chunks - new Set(manifest.received).size;
    if (missing > 0)
      throw new DomicileError(
        'CONFLICT',
        `photo ${photoId} misses ${missing} of its ${manifest.chunks} chunks: GET it to see which, send them, then complete`,
      );
    const hash = createHash('sha256');
    for (let i = 0; i < manifest.chunks; i++) hash.update(await readChunk(client, ref, photoId, i));
    const sha256 = hash.digest('hex');
    if (sha256 !== manifest.sha256)
      throw new DomicileError(
        'CONFLICT',
        `the chunks of photo ${photoId} hash to ${sha256}, not the declared ${manifest.sha256}: send the chunks again`,
      );
    const done: PhotoManifest = { ...manifest, received: [], state: 'complete', completedAt: Date.now() };
    await client.putRecord({ ...ref, collection, key: photoId, value: done, ifVersion: version });
    return done;
  });
}

/** The bytes start..end (inclusive) of a complete photo, a chunk at a time. */
export async function* readPhoto(
  platform: Platform,
  userId: string,
  photoId: string,
  start: number,
  end: number,
): AsyncGenerator<Buffer> {
  for (let i = Math.floor(start / photoChunkSize); i <= Math.floor(end / photoChunkSize); i++) {
    const bytes = await inHome(platform, userId, (client, ref) => readChunk(client, ref, photoId, i));
    const from = Math.max(start - i * photoChunkSize, 0);
    const to = Math.min(end - i * photoChunkSize, bytes.length - 1);
    yield bytes.subarray(from, to + 1);
  }
}

export async function completedManifest(platform: Platform, userId: string, photoId: string): Promise<PhotoManifest> {
  const manifest = await getManifest(platform, userId, photoId);
  if (manifest.state !== 'complete')
    throw new DomicileError(
      'CONFLICT',
      `photo ${photoId} is still uploading (${manifest.missing.length} chunks missing)`,
    );
  return manifest;
}

export async function deletePhoto(platform: Platform, userId: string, photoId: string): Promise<void> {
  await inHome(platform, userId, async (client, ref) => {
    const { manifest } = await readManifest(client, ref, photoId);
    for (let i = 0; i < manifest.chunks; i++)
      await client.deleteRecord({ ...ref, collection, key: chunkKey(photoId, i) });
    await client.deleteRecord({ ...ref, collection, key: photoId });
  });
}
