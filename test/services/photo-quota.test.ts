import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeToHome } from '../../src/platform/route-to-home.js';
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

/** The photo quota holds whatever a user sends: photos are written and deleted by the photo routes alone. */
describe('the photo quota cannot be bypassed through the records API', () => {
  let t: TestPlatform;
  let user: Registered;
  beforeAll(async () => {
    t = await openTestPlatform('phase3', { photoQuotaBytes: 4 * photoChunkSize });
    user = await register(t.app, { email: 'quota@example.com', password: 'correct-horse', market: 'IN' });
    await grant(t.app, user.token, 'cloud-backup');
  });
  afterAll(async () => t.close());

  const start = (size: number) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/me/photos',
      headers: auth(user.token),
      payload: { name: 'a.jpg', contentType: 'image/jpeg', size, sha256: 'a'.repeat(64) },
    });

  const upload = (bytes: Buffer): Promise<string> => uploadPhoto(t.app, user, bytes, 'b.jpg');

  it('neither writes nor deletes anything of cloud/photos through the records API, pointing at the photo routes', async () => {
    for (const key of ['x', 'ph_forged', 'ph_forged~000000']) {
      const put = await t.app.inject({
        method: 'PUT',
        url: `/v1/me/cloud/photos/${key}`,
        headers: auth(user.token),
        payload: { id: key, size: -1e300, received: [] },
      });
      expect(put.statusCode, key).toBe(403);
      expect(put.json().error.message).toMatch(/POST \/v1\/me\/photos/);
      expect(
        (
          await t.app.inject({
            method: 'GET',
            url: `/v1/me/cloud/photos/${encodeURIComponent(key)}`,
            headers: auth(user.token),
          })
        ).statusCode,
      ).toBe(404);
    }
    const bytes = randomBytes(2 * photoChunkSize);
    const id = await upload(bytes);
    const del = await t.app.inject({ method: 'DELETE', url: `/v1/me/cloud/photos/${id}`, headers: auth(user.token) });
    expect(del.statusCode).toBe(403);
    expect(del.json().error.message).toMatch(/DELETE \/v1\/me\/photos\/\{id\}/);
    const chunkDel = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/cloud/photos/${id}~000000`,
      headers: auth(user.token),
    });
    expect(chunkDel.statusCode).toBe(403);
    // The photo is whole, and counts: 2 chunks held, 3 more would pass the quota of 4.
    const content = await t.app.inject({
      method: 'GET',
      url: `/v1/me/photos/${id}/content`,
      headers: auth(user.token),
    });
    expect(content.rawPayload.equals(bytes)).toBe(true);
    expect((await start(3 * photoChunkSize)).statusCode).toBe(413);
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/v1/me/photos/${id}`, headers: auth(user.token) })).statusCode,
    ).toBe(204);
  });

  it('counts only manifests that pass validation, with a positive size: a record stored otherwise takes no room away nor gives any', async () => {
    // Records in cloud/photos that no photo route wrote (stored before the records API refused them).
    await routeToHome(t.platform, user.userId, 'cloud', async (client, ref) => {
      await client.putRecord({
        ...ref,
        collection: 'photos',
        key: 'neg',
        value: { id: 'neg', size: -1e300, received: [] },
      });
      await client.putRecord({
        ...ref,
        collection: 'photos',
        key: 'nan',
        value: { id: 'nan', size: 'lots', received: [] },
      });
      await client.putRecord({
        ...ref,
        collection: 'photos',
        key: 'frac',
        value: { id: 'frac', size: -0.5, received: [] },
      });
    });
    const held = await upload(randomBytes(2 * photoChunkSize));
    const refused = await start(3 * photoChunkSize);
    expect(refused.statusCode).toBe(413);
    expect(refused.json().error).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { used: 2 * photoChunkSize } });
    expect((await start(2 * photoChunkSize)).statusCode).toBe(201);
    expect(held).toMatch(/^ph_/);
  });

  it('lets no two uploads started at once pass the quota together', async () => {
    const racer = await register(t.app, { email: 'racer@example.com', password: 'correct-horse', market: 'IN' });
    await grant(t.app, racer.token, 'cloud-backup');
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/me/photos',
          headers: auth(racer.token),
          payload: { name: 'r.jpg', contentType: 'image/jpeg', size: photoChunkSize, sha256: 'b'.repeat(64) },
        }),
      ),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, 201, 201, 201, 413, 413, 413, 413, 413, 413]);
  });
});
