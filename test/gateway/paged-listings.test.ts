import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseByteSize } from '../../src/cli/cli-options.js';
import { photoChunkSize } from '../../src/services/cloud/photo-sync.js';
import {
  auth,
  grant,
  openTestPlatform,
  type Registered,
  register,
  type TestPlatform,
  uploadPhoto,
} from '../support/test-platform.js';

describe('bounded answers: paged listings without chunk bodies, and a photo quota (issue 14, item 11)', () => {
  let t: TestPlatform;
  let user: Registered;
  beforeAll(async () => {
    t = await openTestPlatform('phase3', { photoQuotaBytes: 12 * photoChunkSize });
    user = await register(t.app, { email: 'pages@example.com', password: 'correct-horse', market: 'IN' });
    await grant(t.app, user.token, 'cloud-backup');
  });
  afterAll(async () => t.close());

  it('lists photos by their manifests alone, never a chunk or its bytes', async () => {
    const ids = [
      await uploadPhoto(t.app, user, randomBytes(4 * photoChunkSize + 10)),
      await uploadPhoto(t.app, user, randomBytes(3 * photoChunkSize)),
    ];
    const res = await t.app.inject({ method: 'GET', url: '/v1/me/cloud/photos', headers: auth(user.token) });
    expect(res.statusCode).toBe(200);
    const { records, next } = res.json() as {
      records: Array<{ key: string; value: { size: number } }>;
      next: string | null;
    };
    expect(records.map((r) => r.key).sort()).toEqual([...ids].sort());
    expect(records.every((r) => !r.key.includes('~') && typeof r.value.size === 'number')).toBe(true);
    expect(next).toBeNull();
    // 3.5 MB of photos; the listing is a few hundred bytes.
    expect(res.body.length).toBeLessThan(2_000);
    const paged = await t.app.inject({ method: 'GET', url: '/v1/me/cloud/photos?limit=1', headers: auth(user.token) });
    const first = paged.json() as { records: Array<{ key: string }>; next: string };
    expect(first.records).toHaveLength(1);
    const second = (
      await t.app.inject({
        method: 'GET',
        url: `/v1/me/cloud/photos?limit=1&cursor=${first.next}`,
        headers: auth(user.token),
      })
    ).json();
    expect([first.records[0]!.key, second.records[0].key].sort()).toEqual([...ids].sort());
  });

  it('refuses a photo past the quota with 413 QUOTA_EXCEEDED, and takes it again once room is made', async () => {
    // 7 chunks' worth are held; the quota is 12.
    const start = (size: number) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/me/photos',
        headers: auth(user.token),
        payload: { name: 'big.jpg', contentType: 'image/jpeg', size, sha256: 'a'.repeat(64) },
      });
    const tooBig = await start(6 * photoChunkSize);
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json().error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { limit: 12 * photoChunkSize, used: 7 * photoChunkSize + 10 },
    });
    expect(tooBig.json().error.message).toMatch(/quota of \d+ bytes .* delete photos/);
    // An upload under way counts by its declared size.
    expect((await start(4 * photoChunkSize)).statusCode).toBe(201);
    expect((await start(2 * photoChunkSize)).statusCode).toBe(413);
    const { records } = (
      await t.app.inject({ method: 'GET', url: '/v1/me/cloud/photos', headers: auth(user.token) })
    ).json() as { records: Array<{ key: string; value: { size: number } }> };
    const largest = records.reduce((a, b) => (a.value.size > b.value.size ? a : b));
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/v1/me/photos/${largest.key}`, headers: auth(user.token) }))
        .statusCode,
    ).toBe(204);
    expect((await start(2 * photoChunkSize)).statusCode).toBe(201);
  });

  it('pages a collection of records with an opaque cursor, a bounded default and a maximum', async () => {
    const keys = Array.from({ length: 57 }, (_, i) => `o-${String(i).padStart(3, '0')}`);
    for (const key of keys) {
      expect(
        (
          await t.app.inject({
            method: 'PUT',
            url: `/v1/me/shop/orders/${key}`,
            headers: auth(user.token),
            payload: { key },
          })
        ).statusCode,
      ).toBe(200);
    }
    const list = (query: string) =>
      t.app.inject({ method: 'GET', url: `/v1/me/shop/orders${query}`, headers: auth(user.token) });
    const first = (await list('')).json() as { records: Array<{ key: string }>; next: string | null };
    expect(first.records).toHaveLength(50);
    expect(first.next).toEqual(expect.any(String));
    expect(first.next).not.toMatch(/o-0/);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await list(`?limit=20${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(res.statusCode).toBe(200);
      const page = res.json() as { records: Array<{ key: string; value: { key: string } }>; next: string | null };
      for (const r of page.records) {
        expect(r.value.key).toBe(r.key);
        seen.push(r.key);
      }
      cursor = page.next;
      pages++;
    } while (cursor !== null && pages < 10);
    // Every record once: pages follow the store's order of keyIds, which hide the keys' own order.
    expect([...seen].sort()).toEqual(keys);
    expect(pages).toBe(3);

    for (const query of [
      '?limit=0',
      '?limit=501',
      '?limit=abc',
      '?limit=1.5',
      '?cursor=not-a-cursor',
      `?cursor=${first.next}x`,
      '?page=2',
    ]) {
      const res = await list(query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error.code).toBe('BAD_REQUEST');
    }
    // A cursor of one collection is refused by another.
    const cart = await t.app.inject({
      method: 'GET',
      url: `/v1/me/shop/cart?cursor=${first.next}`,
      headers: auth(user.token),
    });
    expect(cart.statusCode).toBe(400);
    expect(cart.json().error.message).toMatch(/cursor is not one this listing gave/);
  });

  it('takes a quota as bytes or with a binary unit', () => {
    expect(parseByteSize('5GiB')).toBe(5 * 1024 ** 3);
    expect(parseByteSize('512KiB')).toBe(512 * 1024);
    expect(parseByteSize('1000')).toBe(1000);
    for (const bad of ['0', '-1', '5GB', '1.5GiB', '', 'lots'])
      expect(() => parseByteSize(bad), bad).toThrow(/is not a size/);
  });
});
