import { createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, openTestPlatform, type Registered, register, type TestPlatform } from '../support/test-platform.js';

/** Every endpoint that needs a user, with a request that would succeed for its owner. */
const userEndpoints: Array<{ method: 'GET' | 'PUT' | 'DELETE'; url: string; payload?: unknown }> = [
  { method: 'GET', url: '/v1/me' },
  { method: 'GET', url: '/v1/me/devices' },
  { method: 'PUT', url: '/v1/me/shop/orders/o-1', payload: { sku: 'mi-3' } },
  { method: 'GET', url: '/v1/me/shop/orders/o-1' },
  { method: 'GET', url: '/v1/me/shop/orders' },
  { method: 'DELETE', url: '/v1/me/shop/orders/o-1' },
];

function sign(secret: string, claims: { sub: string; sid: string }, expiresAt: number): Promise<string> {
  return new SignJWT({ sid: claims.sid })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuer('domicile')
    .setIssuedAt(expiresAt - 3600)
    .setExpirationTime(expiresAt)
    .sign(createSecretKey(Buffer.from(secret, 'base64url')));
}

describe('authorization on every endpoint', () => {
  let t: TestPlatform;
  let alice: Registered;
  let bob: Registered;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    alice = await register(t.app, {
      email: 'alice@example.com',
      password: 'alice-password',
      market: 'SG',
      device: 'Mi 3',
    });
    bob = await register(t.app, { email: 'bob@example.com', password: 'bob-password', market: 'IN' });
  });
  afterAll(async () => t.close());

  async function expect401(headers: Record<string, string>, why: RegExp): Promise<void> {
    for (const e of userEndpoints) {
      const res = await t.app.inject({
        method: e.method,
        url: e.url,
        headers,
        ...(e.payload === undefined ? {} : { payload: e.payload as object }),
      });
      expect(res.statusCode, `${e.method} ${e.url}`).toBe(401);
      expect(res.json().error.code).toBe('UNAUTHENTICATED');
      expect(res.json().error.message).toMatch(why);
    }
  }

  it('refuses no token and a malformed header', async () => {
    await expect401({}, /Authorization: Bearer/);
    await expect401({ authorization: 'Basic YWxpY2U6cHc=' }, /Bearer TOKEN/);
  });

  it('refuses an expired token', async () => {
    const expired = await sign(
      t.platform.secrets.jwtKey,
      { sub: alice.userId, sid: alice.sessionId },
      Math.floor(Date.now() / 1000) - 60,
    );
    await expect401(auth(expired), /expired/);
  });

  it('refuses a forged token (another key, or alg none)', async () => {
    const forged = await sign(
      Buffer.alloc(32, 7).toString('base64url'),
      { sub: alice.userId, sid: alice.sessionId },
      Math.floor(Date.now() / 1000) + 600,
    );
    await expect401(auth(forged), /not valid/);
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({ sub: alice.userId, sid: alice.sessionId, iss: 'domicile', exp: 9_999_999_999 }),
    ).toString('base64url');
    await expect401(auth(`${header}.${body}.`), /not valid/);
  });

  it("never serves another user's records: /v1/me is always the token's own user", async () => {
    await t.app.inject({
      method: 'PUT',
      url: '/v1/me/shop/orders/secret',
      headers: auth(bob.token),
      payload: { bob: 'private' },
    });
    const asAlice = await t.app.inject({ method: 'GET', url: '/v1/me/shop/orders/secret', headers: auth(alice.token) });
    expect(asAlice.statusCode).toBe(404);
    // A token naming Bob with Alice's session is refused: sessions belong to one user.
    const mixed = await sign(
      t.platform.secrets.jwtKey,
      { sub: bob.userId, sid: alice.sessionId },
      Math.floor(Date.now() / 1000) + 600,
    );
    await expect401(auth(mixed), /signed out/);
    // Alice cannot revoke Bob's device.
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/devices/${bob.sessionId}`,
      headers: auth(alice.token),
    });
    expect(revoke.statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: auth(bob.token) })).statusCode).toBe(200);
  });

  it("ends a revoked device's sessions at once, and only that device's", async () => {
    const phone = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { email: 'alice@example.com', password: 'alice-password', device: 'stolen Redmi 1S' },
    });
    const stolen = phone.json() as Registered;
    const devices = await t.app.inject({ method: 'GET', url: '/v1/me/devices', headers: auth(alice.token) });
    expect(devices.json().devices.map((d: { label: string }) => d.label)).toEqual(['Mi 3', 'stolen Redmi 1S']);
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/devices/${stolen.sessionId}`,
      headers: auth(alice.token),
    });
    expect(revoke.statusCode).toBe(204);
    await expect401(auth(stolen.token), /signed out/);
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: auth(alice.token) })).statusCode).toBe(200);
    const after = await t.app.inject({ method: 'GET', url: '/v1/me/devices', headers: auth(alice.token) });
    const revoked = after.json().devices.find((d: { sessionId: string }) => d.sessionId === stolen.sessionId);
    expect(revoked.revokedAt).toBeTypeOf('number');
  });

  it('keeps the operator API for the operator credential, never a user token', async () => {
    const asUser = await t.app.inject({ method: 'GET', url: '/v1/ops/residency', headers: auth(alice.token) });
    expect(asUser.statusCode).toBe(401);
    const none = await t.app.inject({ method: 'GET', url: '/v1/ops/residency' });
    expect(none.statusCode).toBe(401);
    const asOperator = await t.app.inject({
      method: 'GET',
      url: '/v1/ops/residency',
      headers: auth(t.platform.secrets.operatorToken),
    });
    expect(asOperator.statusCode).toBe(200);
    expect(asOperator.json().violations).toEqual([]);
    const where = await t.app.inject({
      method: 'GET',
      url: `/v1/ops/users/${bob.userId}`,
      headers: auth(t.platform.secrets.operatorToken),
    });
    expect(where.json().homes.every((h: { region: string }) => h.region === 'in-mumbai')).toBe(true);
  });
});
