import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

interface Change {
  collection: string;
  key: string;
  op: string;
  version: number;
  value?: unknown;
}
interface Page {
  reset: boolean;
  more: boolean;
  token: string;
  changes: Change[];
}

/**
 * A sync's snapshot and the owner's export never read a photo's chunks (512 KiB each): the
 * manifests say what a photo is and where its bytes are. The chunks' blob files are removed
 * before both: a listing that read a chunk's body would fail on them.
 */
describe('sync snapshots and exports of a user with photos: bounded, without chunk bodies', () => {
  let t: TestPlatform;
  let user: Registered;
  let photoId: string;
  const photo = randomBytes(3 * photoChunkSize + 77);
  const sha256 = createHash('sha256').update(photo).digest('hex');

  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    user = await register(t.app, { email: 'snapshot@example.com', password: 'correct-horse', market: 'IN' });
    await grant(t.app, user.token, 'cloud-backup');
    const started = await t.app.inject({
      method: 'POST',
      url: '/v1/me/photos',
      headers: auth(user.token),
      payload: { name: 'IMG_0042.jpg', contentType: 'image/jpeg', size: photo.length, sha256 },
    });
    expect(started.statusCode, started.body).toBe(201);
    photoId = started.json().id;
    for (let i = 0; i < 4; i++) {
      const sent = await t.app.inject({
        method: 'PUT',
        url: `/v1/me/photos/${photoId}/chunks/${i}`,
        headers: { ...auth(user.token), 'content-type': 'application/octet-stream' },
        payload: photo.subarray(i * photoChunkSize, (i + 1) * photoChunkSize),
      });
      expect(sent.statusCode, sent.body).toBe(200);
    }
    expect(
      (await t.app.inject({ method: 'POST', url: `/v1/me/photos/${photoId}/complete`, headers: auth(user.token) }))
        .statusCode,
    ).toBe(200);
    for (const c of ['c1', 'c2', 'c3']) {
      expect(
        (
          await t.app.inject({
            method: 'PUT',
            url: `/v1/me/cloud/contacts/${c}`,
            headers: auth(user.token),
            payload: { name: c },
          })
        ).statusCode,
      ).toBe(200);
    }
    // The three full chunks rest as blob files: without them, reading a chunk's body fails.
    const blobs = listFiles(join(t.dataDir, 'regions')).filter(
      (f) => f.includes('store.db-blobs') && !f.endsWith('address.json'),
    );
    expect(blobs).toHaveLength(3);
    for (const f of blobs) rmSync(f);
  });
  afterAll(async () => t.close());

  const sync = async (query = ''): Promise<{ page: Page; bytes: number }> => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/me/sync/cloud${query}`, headers: auth(user.token) });
    expect(res.statusCode, res.body).toBe(200);
    return { page: res.json() as Page, bytes: res.rawPayload.length };
  };

  it('gives the snapshot a page at a time, with the manifest and no chunk, then the changes since', async () => {
    const seen: Change[] = [];
    let { page, bytes } = await sync('?limit=2');
    expect(page.reset).toBe(true);
    expect(page.more).toBe(true);
    expect(page.changes).toHaveLength(2);
    expect(bytes).toBeLessThan(16 * 1024);
    seen.push(...page.changes);
    for (let i = 0; page.more && i < 10; i++) {
      ({ page, bytes } = await sync(`?since=${page.token}&limit=2`));
      expect(page.reset).toBe(false);
      expect(page.changes.length).toBeLessThanOrEqual(2);
      expect(bytes).toBeLessThan(16 * 1024);
      seen.push(...page.changes);
    }
    expect(page.more).toBe(false);
    expect(seen.map((c) => `${c.collection}/${c.key}`).sort()).toEqual([
      'contacts/c1',
      'contacts/c2',
      'contacts/c3',
      `photos/${photoId}`,
    ]);
    expect(seen.find((c) => c.key === photoId)?.value).toMatchObject({
      size: photo.length,
      sha256,
      chunks: 4,
      state: 'complete',
    });

    // The snapshot's last token goes on with the changes made since its first page.
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: '/v1/me/cloud/contacts/c4',
          headers: auth(user.token),
          payload: { name: 'c4' },
        })
      ).statusCode,
    ).toBe(200);
    const after = (await sync(`?since=${page.token}`)).page;
    expect(after.reset).toBe(false);
    expect(after.changes.map((c) => `${c.op} ${c.key}`)).toEqual(['put c4']);

    // One page holding everything, by default.
    const whole = await sync();
    expect(whole.page).toMatchObject({ reset: true, more: false });
    expect(whole.page.changes).toHaveLength(5);
  });

  it('exports each photo as its manifest and where its bytes are, never its chunks', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/me/export', headers: auth(user.token) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.rawPayload.length).toBeLessThan(64 * 1024);
    const body = res.json() as {
      regions: Array<{
        services: Array<{
          service: string;
          records: Array<{ collection: string; key: string; value: unknown; content?: string }>;
        }>;
      }>;
    };
    const records = body.regions
      .flatMap((r) => r.services)
      .filter((s) => s.service === 'cloud')
      .flatMap((s) => s.records);
    expect(records.filter((r) => r.key.includes('~'))).toEqual([]);
    const manifest = records.find((r) => r.collection === 'photos' && r.key === photoId);
    expect(manifest?.value).toMatchObject({
      name: 'IMG_0042.jpg',
      contentType: 'image/jpeg',
      size: photo.length,
      sha256,
      chunks: 4,
    });
    expect(manifest?.content).toBe(`/v1/me/photos/${photoId}/content`);
    expect(records.filter((r) => r.collection === 'contacts').map((r) => r.key)).toEqual(['c1', 'c2', 'c3', 'c4']);
  });
});
