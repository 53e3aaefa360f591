import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  grant,
  openTestPlatform,
  type Registered,
  register,
  type TestPlatform,
} from '../support/test-platform.js';

interface Page {
  reset: boolean;
  more: boolean;
  token: string;
  changes: Array<{ collection: string; key: string; op: string; version: number; value?: unknown }>;
}

describe('Mi Cloud: contacts backed up and restored, and synced by change token', () => {
  let t: TestPlatform;
  let user: Registered;
  let other: Registered;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    user = await register(t.app, { email: 'cloud@example.com', password: 'correct-horse', market: 'IN' });
    other = await register(t.app, { email: 'other@example.com', password: 'correct-horse', market: 'IN' });
    await grant(t.app, user.token, 'cloud-backup');
    await grant(t.app, other.token, 'cloud-backup');
  });
  afterAll(async () => t.close());

  const put = (u: Registered, key: string, value: unknown) =>
    t.app.inject({
      method: 'PUT',
      url: `/v1/me/cloud/contacts/${key}`,
      headers: auth(u.token),
      payload: value as Record<string, unknown>,
    });
  const sync = async (u: Registered, query = ''): Promise<Page> => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/me/sync/cloud${query}`, headers: auth(u.token) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('private, no-store');
    return res.json() as Page;
  };
  const keys = (p: Page) => p.changes.map((c) => `${c.op} ${c.collection}/${c.key}@${c.version}`).sort();

  it('gives a snapshot first, then exactly the changes since each token', async () => {
    expect((await put(user, 'c1', { name: 'Lei Jun', phone: '+861000000001' })).statusCode).toBe(200);
    expect((await put(user, 'c2', { name: 'Hugo Barra' })).statusCode).toBe(200);
    await put(other, 'x1', { name: 'not mine' });

    const first = await sync(user);
    expect(first.reset).toBe(true);
    // The consent ledger rests with the data but is the platform's: not synced.
    expect(keys(first)).toEqual(['put contacts/c1@1', 'put contacts/c2@1']);
    expect(first.changes.find((c) => c.key === 'c1')?.value).toEqual({ name: 'Lei Jun', phone: '+861000000001' });

    // Changes: c1 twice, c2 deleted, c3 new; another user's change is not mine.
    await put(user, 'c1', { name: 'Lei Jun', phone: '+861000000002' });
    await put(user, 'c1', { name: 'Lei Jun (CEO)', phone: '+861000000002' });
    expect(
      (await t.app.inject({ method: 'DELETE', url: '/v1/me/cloud/contacts/c2', headers: auth(user.token) })).statusCode,
    ).toBe(204);
    await put(user, 'c3', { name: 'Bin Lin' });
    await put(other, 'x2', { name: 'not mine either' });

    const second = await sync(user, `?since=${first.token}`);
    expect(second.reset).toBe(false);
    expect(second.more).toBe(false);
    expect(keys(second)).toEqual(['delete contacts/c2@1', 'put contacts/c1@3', 'put contacts/c3@1']);
    expect(second.changes.find((c) => c.key === 'c1')?.value).toEqual({
      name: 'Lei Jun (CEO)',
      phone: '+861000000002',
    });

    const third = await sync(user, `?since=${second.token}`);
    expect(third).toMatchObject({ reset: false, more: false, changes: [] });

    // Read a page at a time, the same changes arrive.
    let token = first.token;
    const paged = new Map<string, string>();
    for (let i = 0; i < 10; i++) {
      const page = await sync(user, `?since=${token}&limit=1`);
      for (const c of page.changes) paged.set(`${c.collection}/${c.key}`, `${c.op}@${c.version}`);
      token = page.token;
      if (!page.more) break;
    }
    expect(Object.fromEntries(paged)).toEqual({
      'contacts/c1': 'put@3',
      'contacts/c2': 'delete@1',
      'contacts/c3': 'put@1',
    });

    // Restore on a new phone: the snapshot is what is backed up now.
    expect(keys(await sync(user))).toEqual(['put contacts/c1@3', 'put contacts/c3@1']);
  });

  it('starts over from a token of another home, and names a bad token or service', async () => {
    const page = await sync(user);
    const foreign = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(page.token, 'base64url').toString()), r: 'sg-singapore' }),
    ).toString('base64url');
    const again = await sync(user, `?since=${foreign}`);
    expect(again.reset).toBe(true);
    // Another user's token, or another service's, starts over too: it never skips my changes.
    expect((await sync(other, `?since=${page.token}`)).reset).toBe(true);
    const messaging = await t.app.inject({
      method: 'GET',
      url: `/v1/me/sync/messaging?since=${page.token}`,
      headers: auth(user.token),
    });
    expect(messaging.json().reset).toBe(true);
    const bad = await t.app.inject({
      method: 'GET',
      url: '/v1/me/sync/cloud?since=not-a-token',
      headers: auth(user.token),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/sync again without \?since/);
    expect(
      (await t.app.inject({ method: 'GET', url: '/v1/me/sync/photos', headers: auth(user.token) })).statusCode,
    ).toBe(404);
    expect(
      (await t.app.inject({ method: 'GET', url: '/v1/me/sync/cloud?limit=0', headers: auth(user.token) })).statusCode,
    ).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/v1/me/sync/cloud' })).statusCode).toBe(401);
  });
});
