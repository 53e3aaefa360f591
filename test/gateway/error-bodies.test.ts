import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { errorCodes } from '../../src/errors/domicile-error.js';
import { errorStatus } from '../../src/errors/error-status.js';
import { photoChunkSize } from '../../src/services/cloud/photo-sync.js';
import { listFiles } from '../support/file-scan.js';
import {
  auth,
  grant,
  openTestPlatform,
  type Registered,
  register,
  type TestPlatform,
} from '../support/test-platform.js';

/** What every error answer must be: the house's JSON, a code whose status it has, a request id, and nothing internal. */
function expectCleanError(
  res: LightMyRequestResponse,
  status: number,
  code: string,
): { code: string; message: string; requestId: string } {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toMatch(/no-store/);
  const { error } = res.json() as { error: { code: string; message: string; requestId: string } };
  expect(error.code).toBe(code);
  expect(errorStatus[error.code as (typeof errorCodes)[number]]).toBe(status);
  expect(error.requestId).toMatch(/^req_[A-Za-z0-9_-]{8,}$/);
  expect(res.body).not.toMatch(/FST_|TypeError|RangeError|SyntaxError|\/tmp\/|\/work\/|node_modules|at [A-Za-z.]+ \(/);
  return error;
}

describe('error bodies: one mapping, a request id, nosniff, nothing internal (issue 14, item 13)', () => {
  let t: TestPlatform;
  let user: Registered;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    // A route that fails as a bug would: its message names a file, which must stay in the log.
    t.app.get('/test/throws', async () => {
      throw new TypeError('cannot read /work/secret/place.db');
    });
    user = await register(t.app, { email: 'errors@example.com', password: 'correct-horse', market: 'IN' });
  });
  afterAll(async () => t.close());

  it('answers a bug as INTERNAL with the request id it tells the user to quote, and no internal name', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/throws' });
    const error = expectCleanError(res, 500, 'INTERNAL');
    expect(error.message).toContain(error.requestId);
  });

  it('serves keys of 101 to 128 characters (documented as valid) through the error mapping', async () => {
    const key = 'k'.repeat(120);
    const missing = await t.app.inject({ method: 'GET', url: `/v1/me/shop/orders/${key}`, headers: auth(user.token) });
    expectCleanError(missing, 404, 'NOT_FOUND');
    const put = await t.app.inject({
      method: 'PUT',
      url: `/v1/me/shop/orders/${key}`,
      headers: auth(user.token),
      payload: { qty: 1 },
    });
    expect(put.statusCode).toBe(200);
    const tooLong = await t.app.inject({
      method: 'GET',
      url: `/v1/me/shop/orders/${'k'.repeat(400)}`,
      headers: auth(user.token),
    });
    expectCleanError(tooLong, 400, 'BAD_REQUEST');
  });

  it('says what Fastify refused in the house codes, without "send a JSON body" where JSON is not the point', async () => {
    const badJson = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { 'content-type': 'application/json' },
      payload: '{"phone":',
    });
    expect(expectCleanError(badJson, 400, 'BAD_REQUEST').message).toMatch(/JSON/);
    const xml = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { 'content-type': 'application/xml' },
      payload: '<a/>',
    });
    expect(expectCleanError(xml, 415, 'UNSUPPORTED_MEDIA_TYPE').message).toMatch(/application\/json/);
    const unknownRoute = await t.app.inject({ method: 'GET', url: '/v2/nothing' });
    expectCleanError(unknownRoute, 404, 'NOT_FOUND');
  });

  it('accepts the auth scheme in any case (RFC 9110), and puts nosniff on every answer', async () => {
    const lower = await t.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: `bearer ${user.token}` },
    });
    expect(lower.statusCode).toBe(200);
    expect(lower.headers['x-content-type-options']).toBe('nosniff');
    const none = await t.app.inject({ method: 'GET', url: '/v1/me' });
    expectCleanError(none, 401, 'UNAUTHENTICATED');
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.headers['x-content-type-options']).toBe('nosniff');
  });

  describe('photos', () => {
    const photo = randomBytes(photoChunkSize + 100);
    const sha256 = createHash('sha256').update(photo).digest('hex');
    let id: string;
    beforeAll(async () => {
      await grant(t.app, user.token, 'cloud-backup');
      const started = await t.app.inject({
        method: 'POST',
        url: '/v1/me/photos',
        headers: auth(user.token),
        payload: { name: 'a.jpg', contentType: 'image/jpeg', size: photo.length, sha256 },
      });
      id = started.json().id;
      for (const i of [0, 1]) {
        const res = await t.app.inject({
          method: 'PUT',
          url: `/v1/me/photos/${id}/chunks/${i}`,
          headers: { ...auth(user.token), 'content-type': 'application/octet-stream' },
          payload: photo.subarray(i * photoChunkSize, (i + 1) * photoChunkSize),
        });
        expect(res.statusCode).toBe(200);
      }
      expect(
        (await t.app.inject({ method: 'POST', url: `/v1/me/photos/${id}/complete`, headers: auth(user.token) }))
          .statusCode,
      ).toBe(200);
    });

    it('answers 416 as RANGE_NOT_SATISFIABLE, and a chunk of the wrong media type as 415', async () => {
      const outside = await t.app.inject({
        method: 'GET',
        url: `/v1/me/photos/${id}/content`,
        headers: { ...auth(user.token), range: `bytes=${photo.length}-` },
      });
      expectCleanError(outside, 416, 'RANGE_NOT_SATISFIABLE');
      expect(outside.headers['content-range']).toBe(`bytes */${photo.length}`);
      const jpeg = await t.app.inject({
        method: 'PUT',
        url: `/v1/me/photos/${id}/chunks/0`,
        headers: { ...auth(user.token), 'content-type': 'image/jpeg' },
        payload: Buffer.alloc(10),
      });
      const error = expectCleanError(jpeg, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(error.message).toMatch(/application\/octet-stream/);
      expect(error.message).not.toMatch(/send a JSON body/);
    });

    it('allows image and video types only, so nothing uploaded is served back as a page', async () => {
      for (const contentType of ['text/html', 'image/svg+xml', 'application/javascript']) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/v1/me/photos',
          headers: auth(user.token),
          payload: { name: 'x', contentType, size: 10, sha256 },
        });
        expect(expectCleanError(res, 400, 'BAD_REQUEST').message, contentType).toMatch(/image\/jpeg/);
      }
      const video = await t.app.inject({
        method: 'POST',
        url: '/v1/me/photos',
        headers: auth(user.token),
        payload: { name: 'v.mp4', contentType: 'video/mp4', size: 10, sha256 },
      });
      expect(video.statusCode).toBe(201);

      // A page stored as a photo before types were checked is served as bytes, not as a page.
      const page = Buffer.from('<script>alert(1)</script>');
      const home = (await t.app.inject({ method: 'GET', url: '/v1/me', headers: auth(user.token) })).json().homes.cloud;
      const ref = { userId: user.userId, service: 'cloud', epoch: home.epoch, collection: 'photos' };
      const manifest = {
        id: 'ph_oldpage',
        name: 'x.html',
        contentType: 'text/html',
        size: page.length,
        sha256: createHash('sha256').update(page).digest('hex'),
        chunkSize: photoChunkSize,
        chunks: 1,
        received: [],
        state: 'complete',
        createdAt: 1,
        completedAt: 1,
      };
      await t.platform.region(home.region).putRecord({ ...ref, key: 'ph_oldpage', value: manifest });
      await t.platform
        .region(home.region)
        .putRecord({ ...ref, key: 'ph_oldpage~000000', value: { d: page.toString('base64') } });
      const served = await t.app.inject({
        method: 'GET',
        url: '/v1/me/photos/ph_oldpage/content',
        headers: auth(user.token),
      });
      expect(served.statusCode).toBe(200);
      expect(served.headers['content-type']).toBe('application/octet-stream');
      expect(served.headers['x-content-type-options']).toBe('nosniff');
      expect(served.rawPayload.equals(page)).toBe(true);
    });

    it("answers a failed integrity check as 500 INTEGRITY without the blob file's path, on every photo route", async () => {
      const blob = listFiles(join(t.dataDir, 'regions')).find(
        (f) => f.includes('store.db-blobs') && !f.endsWith('address.json'),
      );
      expect(blob).toBeDefined();
      const bytes = readFileSync(blob!);
      bytes[bytes.length - 20]! ^= 0xff;
      writeFileSync(blob!, bytes);
      const content = await t.app.inject({
        method: 'GET',
        url: `/v1/me/photos/${id}/content`,
        headers: auth(user.token),
      });
      expect(content.statusCode).not.toBe(200);
      expect(content.body).not.toContain(sha256);
      expectCleanError(content, 500, 'INTEGRITY');
      expect(content.headers.etag).toBeUndefined();
      const chunk = await t.app.inject({
        method: 'GET',
        url: `/v1/me/cloud/photos/${id}~000000`,
        headers: auth(user.token),
      });
      const error = expectCleanError(chunk, 500, 'INTEGRITY');
      // What failed, and the id to quote; where the file is, only in the log.
      expect(error.message).toMatch(
        /blob file of record cloud\/photos\/.* was changed on disk \(a file of the region\)/,
      );
      expect(error.message).toContain(error.requestId);
      expect(error.message).not.toContain(blob!);
      // The export gives a photo as its manifest and reads no chunk: the changed file does not fail it.
      const exported = await t.app.inject({ method: 'GET', url: '/v1/me/export', headers: auth(user.token) });
      expect(exported.statusCode, exported.body).toBe(200);
      expect(exported.body).not.toContain(blob!);
      expect(exported.body).not.toContain(`${id}~`);
    });
  });
});

describe('careless clients (issue 14, item 14)', () => {
  let t: TestPlatform;
  let user: Registered;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    user = await register(t.app, { email: 'careless@example.com', password: 'correct-horse', market: 'IN' });
  });
  afterAll(async () => t.close());

  it('refuses a record that is not sent as JSON with 415, and stores nothing', async () => {
    for (const payload of ['hello', '']) {
      const res = await t.app.inject({
        method: 'PUT',
        url: '/v1/me/shop/orders/o-text',
        headers: { ...auth(user.token), 'content-type': 'text/plain' },
        payload,
      });
      expect(expectCleanError(res, 415, 'UNSUPPORTED_MEDIA_TYPE').message).toMatch(/application\/json/);
    }
    const read = await t.app.inject({ method: 'GET', url: '/v1/me/shop/orders/o-text', headers: auth(user.token) });
    expect(read.statusCode).toBe(404);
  });

  it('takes a chunk index as decimal digits only', async () => {
    await grant(t.app, user.token, 'cloud-backup');
    const size = 3 * photoChunkSize;
    const started = await t.app.inject({
      method: 'POST',
      url: '/v1/me/photos',
      headers: auth(user.token),
      payload: { name: 'a.jpg', contentType: 'image/jpeg', size, sha256: 'a'.repeat(64) },
    });
    const { id } = started.json();
    for (const index of ['0x1', '%201', '1.0', '1e0', '+1', '01']) {
      const res = await t.app.inject({
        method: 'PUT',
        url: `/v1/me/photos/${id}/chunks/${index}`,
        headers: { ...auth(user.token), 'content-type': 'application/octet-stream' },
        payload: Buffer.alloc(photoChunkSize),
      });
      expect(expectCleanError(res, 400, 'BAD_REQUEST').message, index).toMatch(/index/);
    }
    const empty = await t.app.inject({
      method: 'PUT',
      url: `/v1/me/photos/${id}/chunks/`,
      headers: { ...auth(user.token), 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(photoChunkSize),
    });
    expect([400, 404]).toContain(empty.statusCode);
    expect(
      (await t.app.inject({ method: 'GET', url: `/v1/me/photos/${id}`, headers: auth(user.token) })).json().received,
    ).toEqual([]);
  });
});

describe('a region that cannot be reached (review of issue 14: internal addresses in 503 bodies)', () => {
  it('answers UNAVAILABLE naming the region and what to do, never its address or the socket error', async () => {
    // A port that was just free: nothing listens there, so a connection is refused.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const t = await openTestPlatform('phase3', {}, { remoteRegions: { 'in-mumbai': `http://127.0.0.1:${port}` } });
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        payload: { email: 'unreachable@example.com', password: 'correct-horse', market: 'IN' },
      });
      const error = expectCleanError(res, 503, 'UNAVAILABLE');
      expect(error.message).toMatch(/region in-mumbai/);
      expect(error.message).toMatch(/try again/);
      expect(res.body).not.toMatch(/127\.0\.0\.1|:\/\/|\/region\/v1|ECONNREFUSED|"url"/);
      expect(res.body).not.toContain(String(port));
    } finally {
      await t.close();
    }
  });
});
