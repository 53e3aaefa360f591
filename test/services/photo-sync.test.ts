import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRange } from '../../src/gateway/routes/photo-routes.js';
import { whereUser } from '../../src/platform/where-user.js';
import { photoChunkSize } from '../../src/services/cloud/photo-sync.js';
import { filesHoldingBytes, listFiles } from '../support/file-scan.js';
import {
  auth,
  grant,
  openTestPlatform,
  type Registered,
  register,
  type TestPlatform,
} from '../support/test-platform.js';

describe("Mi Cloud photo sync: chunked, resumable uploads and ranged downloads, in the user's region", () => {
  let t: TestPlatform;
  let user: Registered;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    user = await register(t.app, { email: 'photos@example.com', password: 'correct-horse', market: 'IN' });
  });
  afterAll(async () => t.close());

  const canary = Buffer.from('CANARY-PHOTO-BYTES-91c2');
  const photo = Buffer.concat([randomBytes(5 * photoChunkSize), canary, randomBytes(123)]);
  const sha256 = createHash('sha256').update(photo).digest('hex');
  const start = (body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/v1/me/photos', headers: auth(user.token), payload: body });
  const chunk = (id: string, i: number, bytes: Buffer) =>
    t.app.inject({
      method: 'PUT',
      url: `/v1/me/photos/${id}/chunks/${i}`,
      headers: { ...auth(user.token), 'content-type': 'application/octet-stream' },
      payload: bytes,
    });
  const part = (i: number) => photo.subarray(i * photoChunkSize, (i + 1) * photoChunkSize);

  it('refuses without the cloud-backup consent, resumes an interrupted upload, and serves the same bytes, whole and in ranges', async () => {
    const refused = await start({ name: 'IMG_0001.jpg', contentType: 'image/jpeg', size: photo.length, sha256 });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatchObject({ code: 'CONSENT_REQUIRED', details: { purpose: 'cloud-backup' } });
    await grant(t.app, user.token, 'cloud-backup');

    const started = await start({ name: 'IMG_0001.jpg', contentType: 'image/jpeg', size: photo.length, sha256 });
    expect(started.statusCode).toBe(201);
    const { id, chunks } = started.json();
    expect(chunks).toBe(6);
    // The connection drops after three chunks: the phone asks what arrived and sends the rest.
    for (const i of [0, 1, 2]) expect((await chunk(id, i, part(i))).statusCode).toBe(200);
    const midway = (
      await t.app.inject({ method: 'GET', url: `/v1/me/photos/${id}`, headers: auth(user.token) })
    ).json();
    expect(midway).toMatchObject({ state: 'uploading', missing: [3, 4, 5] });
    const early = await t.app.inject({
      method: 'POST',
      url: `/v1/me/photos/${id}/complete`,
      headers: auth(user.token),
    });
    expect(early.statusCode).toBe(409);
    expect(early.json().error.message).toMatch(/misses 3 of its 6 chunks/);
    for (const i of [5, 4, 3, 3]) expect((await chunk(id, i, part(i))).statusCode).toBe(200);

    // Bad chunks change nothing.
    expect((await chunk(id, 2, part(2).subarray(1))).json().error.message).toMatch(
      /chunk 2 of photo .* is 524288 bytes, not 524287/,
    );
    expect((await chunk(id, 6, part(0))).statusCode).toBe(400);
    expect((await chunk(id, 0, Buffer.alloc(photoChunkSize + 1))).statusCode).toBe(413);
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: `/v1/me/photos/${id}/chunks/0`,
          headers: auth(user.token),
          payload: { json: true },
        })
      ).statusCode,
    ).toBe(415);

    const done = await t.app.inject({ method: 'POST', url: `/v1/me/photos/${id}/complete`, headers: auth(user.token) });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ state: 'complete', size: photo.length, sha256 });

    const whole = await t.app.inject({ method: 'GET', url: `/v1/me/photos/${id}/content`, headers: auth(user.token) });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-type']).toBe('image/jpeg');
    expect(whole.headers['cache-control']).toBe('private, no-store');
    expect(whole.rawPayload.equals(photo)).toBe(true);
    // A range across a chunk boundary, and the last bytes.
    const from = photoChunkSize - 10;
    const ranged = await t.app.inject({
      method: 'GET',
      url: `/v1/me/photos/${id}/content`,
      headers: { ...auth(user.token), range: `bytes=${from}-${from + 99}` },
    });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-range']).toBe(`bytes ${from}-${from + 99}/${photo.length}`);
    expect(ranged.rawPayload.equals(photo.subarray(from, from + 100))).toBe(true);
    const tail = await t.app.inject({
      method: 'GET',
      url: `/v1/me/photos/${id}/content`,
      headers: { ...auth(user.token), range: 'bytes=-150' },
    });
    expect(tail.rawPayload.equals(photo.subarray(photo.length - 150))).toBe(true);
    const outside = await t.app.inject({
      method: 'GET',
      url: `/v1/me/photos/${id}/content`,
      headers: { ...auth(user.token), range: `bytes=${photo.length}-` },
    });
    expect(outside.statusCode).toBe(416);
    expect(outside.headers['content-range']).toBe(`bytes */${photo.length}`);

    // It rests in the user's home region only, sealed: its bytes are in no file as they were sent.
    expect((await whereUser(t.platform, user.userId)).holdings.map((h) => h.region)).toEqual(['in-mumbai']);
    expect(filesHoldingBytes(t.dataDir, canary)).toEqual([]);
    // Its five full chunks rest as files of that region's blob store (the last, 146 bytes, in its database); no other region has any.
    const blobFiles = (): string[] =>
      listFiles(join(t.dataDir, 'regions')).filter((f) => f.includes('store.db-blobs') && !f.endsWith('address.json'));
    expect(blobFiles()).toHaveLength(5);
    expect(blobFiles().every((f) => f.includes(join('regions', 'in-mumbai', 'store.db-blobs')))).toBe(true);
    expect(blobFiles().every((f) => statSync(f).size > photoChunkSize)).toBe(true);
    // Sync carries the manifest, not the chunks.
    const synced = (await t.app.inject({ method: 'GET', url: '/v1/me/sync/cloud', headers: auth(user.token) })).json();
    expect(synced.changes.map((c: { key: string }) => c.key)).toEqual([id]);

    expect(
      (await t.app.inject({ method: 'DELETE', url: `/v1/me/photos/${id}`, headers: auth(user.token) })).statusCode,
    ).toBe(204);
    expect(
      (await t.app.inject({ method: 'GET', url: `/v1/me/photos/${id}/content`, headers: auth(user.token) })).statusCode,
    ).toBe(404);
    expect(blobFiles()).toEqual([]);
  });

  it('refuses to complete chunks that do not hash to the declared SHA-256, and forged records of photos', async () => {
    const small = randomBytes(1000);
    const started = (
      await start({ name: 'x.png', contentType: 'image/png', size: small.length, sha256: 'a'.repeat(64) })
    ).json();
    expect((await chunk(started.id, 0, small)).statusCode).toBe(200);
    const wrong = await t.app.inject({
      method: 'POST',
      url: `/v1/me/photos/${started.id}/complete`,
      headers: auth(user.token),
    });
    expect(wrong.statusCode).toBe(409);
    expect(wrong.json().error.message).toMatch(/hash to [0-9a-f]{64}, not the declared a{64}/);
    const forged = await t.app.inject({
      method: 'PUT',
      url: `/v1/me/cloud/photos/${started.id}`,
      headers: auth(user.token),
      payload: { state: 'complete' },
    });
    expect(forged.statusCode).toBe(403);
    expect((await start({ name: 'x', contentType: 'not a type', size: 1, sha256: 'a'.repeat(64) })).statusCode).toBe(
      400,
    );
    expect((await start({ name: 'x', contentType: 'image/png', size: 0, sha256: 'a'.repeat(64) })).statusCode).toBe(
      400,
    );
  });

  it('reads ranges as RFC 9110 says', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    for (const bad of ['bytes=100-', 'bytes=9-1', 'bytes=-', 'items=0-1', 'bytes=0-1,3-4'])
      expect(parseRange(bad, 100), bad).toBeUndefined();
  });
});
