import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, openTestPlatform, register, type TestPlatform } from '../support/test-platform.js';

describe('Mi Account and the records API through the gateway', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
  });
  afterAll(async () => t.close());

  it('registers users, homes each service by the policy, and logs in with phone or e-mail', async () => {
    const indian = await register(t.app, {
      phone: '+91 98123 45678',
      password: 'correct-horse',
      market: 'IN',
      device: 'Redmi 1S',
    });
    const american = await register(t.app, { email: 'Ann@Example.com', password: 'correct-horse', market: 'US' });
    const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: auth(indian.token) });
    expect(me.statusCode).toBe(200);
    expect(me.json().homes).toEqual({
      account: { region: 'in-mumbai', epoch: 1 },
      cloud: { region: 'in-mumbai', epoch: 1 },
      messaging: { region: 'in-mumbai', epoch: 1 },
      shop: { region: 'in-mumbai', epoch: 1 },
    });
    const us = (await t.app.inject({ method: 'GET', url: '/v1/me', headers: auth(american.token) })).json();
    expect(us.homes.shop.region).toBe('us-california');
    expect(us.homes.account.region).toBe('us-oregon');

    // Normalised identifiers: the same phone written differently, the e-mail in other case.
    const byPhone = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { phone: '+919812345678', password: 'correct-horse' },
    });
    expect(byPhone.statusCode).toBe(200);
    expect(byPhone.json().userId).toBe(indian.userId);
    const byEmail = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { email: ' ann@example.COM ', password: 'correct-horse' },
    });
    expect(byEmail.json().userId).toBe(american.userId);

    const wrong = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { phone: '+919812345678', password: 'wrong-password' },
    });
    expect(wrong.statusCode).toBe(401);
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { phone: '+6500000000', password: 'wrong-password' },
    });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().error.message).toBe(wrong.json().error.message);
  });

  it('refuses a second account with the same login, and bad registrations, with clear errors', async () => {
    await register(t.app, { email: 'dup@example.com', password: 'correct-horse', market: 'SG' });
    const dup = await t.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      payload: { email: 'DUP@example.com', password: 'another-one', market: 'SG' },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('CONFLICT');

    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ email: 'x@example.com', password: 'short', market: 'SG' }, /at least 8 characters/],
      [{ email: 'x@example.com', password: 'long-enough', market: 'sg' }, /ISO 3166-1 alpha-2/],
      [{ email: 'x@example.com', password: 'long-enough', market: 'XX' }, /XX/],
      [{ password: 'long-enough', market: 'SG' }, /phone .* or an email/],
      [{ email: 'not-an-email', password: 'long-enough', market: 'SG' }, /e-?mail/i],
      [{ phone: 'call me', password: 'long-enough', market: 'SG' }, /phone/i],
      [{ email: 'x@example.com', password: 'long-enough', market: 'SG', admin: true }, /admin/],
    ];
    for (const [payload, message] of cases) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/accounts', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('BAD_REQUEST');
      expect(res.json().error.message).toMatch(message);
    }
    const notJson = await t.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      payload: '{"email":',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('BAD_REQUEST');
  });

  it('writes, reads, lists and deletes records, with versions and If-Match', async () => {
    const u = await register(t.app, { email: 'records@example.com', password: 'correct-horse', market: 'MY' });
    const url = '/v1/me/shop/orders/o-1';
    const put1 = await t.app.inject({
      method: 'PUT',
      url,
      headers: auth(u.token),
      payload: { sku: 'redmi-1s', qty: 1 },
    });
    expect(put1.statusCode).toBe(200);
    expect(put1.json()).toMatchObject({ collection: 'orders', key: 'o-1', version: 1 });
    const put2 = await t.app.inject({
      method: 'PUT',
      url,
      headers: { ...auth(u.token), 'if-match': '"1"' },
      payload: { sku: 'redmi-1s', qty: 2 },
    });
    expect(put2.json().version).toBe(2);
    const stale = await t.app.inject({
      method: 'PUT',
      url,
      headers: { ...auth(u.token), 'if-match': '"1"' },
      payload: { qty: 3 },
    });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.code).toBe('CONFLICT');

    const got = await t.app.inject({ method: 'GET', url, headers: auth(u.token) });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ version: 2, value: { sku: 'redmi-1s', qty: 2 } });
    expect(got.headers['cache-control']).toBe('private, no-store');
    const me = await t.app.inject({ method: 'GET', url: '/v1/me/devices', headers: auth(u.token) });
    expect(me.headers['cache-control']).toBe('private, no-store');

    await t.app.inject({
      method: 'PUT',
      url: '/v1/me/shop/orders/o-2',
      headers: auth(u.token),
      payload: ['a', 'list', 42],
    });
    const list = await t.app.inject({ method: 'GET', url: '/v1/me/shop/orders', headers: auth(u.token) });
    expect(
      list
        .json()
        .records.map((r: { key: string }) => r.key)
        .sort(),
    ).toEqual(['o-1', 'o-2']);

    const del = await t.app.inject({ method: 'DELETE', url, headers: auth(u.token) });
    expect(del.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url, headers: auth(u.token) })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'DELETE', url, headers: auth(u.token) })).statusCode).toBe(404);
  });

  it('rejects unknown services and collections, bad keys, oversized bodies and bad If-Match', async () => {
    const u = await register(t.app, { email: 'bad-input@example.com', password: 'correct-horse', market: 'SG' });
    const h = auth(u.token);
    const unknownService = await t.app.inject({
      method: 'PUT',
      url: '/v1/me/games/scores/s1',
      headers: h,
      payload: { a: 1 },
    });
    expect(unknownService.statusCode).toBe(404);
    expect(unknownService.json().error.message).toMatch(/account, messaging, cloud, shop/);
    const unknownCollection = await t.app.inject({
      method: 'PUT',
      url: '/v1/me/shop/wishlist/w1',
      headers: h,
      payload: { a: 1 },
    });
    expect(unknownCollection.statusCode).toBe(404);
    expect(unknownCollection.json().error.message).toMatch(/cart, orders, addresses/);
    const badKey = await t.app.inject({
      method: 'PUT',
      url: '/v1/me/shop/orders/has%20space',
      headers: h,
      payload: { a: 1 },
    });
    expect(badKey.statusCode).toBe(400);
    const tooBig = await t.app.inject({
      method: 'PUT',
      url: '/v1/me/shop/orders/big',
      headers: h,
      payload: { blob: 'x'.repeat(300 * 1024) },
    });
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const badIfMatch = await t.app.inject({
      method: 'PUT',
      url: '/v1/me/shop/orders/o',
      headers: { ...h, 'if-match': 'yesterday' },
      payload: { a: 1 },
    });
    expect(badIfMatch.statusCode).toBe(400);
    // None of these wrote anything.
    const list = await t.app.inject({ method: 'GET', url: '/v1/me/shop/orders', headers: h });
    expect(list.json().records).toEqual([]);
    const noRoute = await t.app.inject({ method: 'GET', url: '/v2/nothing' });
    expect(noRoute.statusCode).toBe(404);
    expect(noRoute.json().error.code).toBe('NOT_FOUND');
  });

  it('serves the OpenAPI document at /docs', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/accounts', '/v1/sessions', '/v1/me/{service}/{collection}/{key}', '/v1/me/devices']),
    );
  });
});
