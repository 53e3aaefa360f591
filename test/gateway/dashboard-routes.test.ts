import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, grant, openTestPlatform, register, type TestPlatform } from '../support/test-platform.js';

describe('the dashboard routes', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
  });
  afterAll(async () => t.close());
  const operator = () => auth(t.platform.secrets.operatorToken);

  it("refuses the summary and the event stream without the operator credential, a user's token included", async () => {
    const user = await register(t.app, {
      email: 'dash-user@example.com',
      password: 'dashboard-password',
      market: 'IN',
    });
    for (const url of ['/v1/ops/dashboard', '/v1/ops/events']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url, headers: auth(user.token) })).statusCode).toBe(401);
    }
  });

  it("summarises regions, markets' compliance, placement, consent counts and verified audit logs", async () => {
    const user = await register(t.app, {
      email: 'dash-consent@example.com',
      password: 'dashboard-password',
      market: 'SG',
    });
    await grant(t.app, user.token, 'cloud-backup');
    await t.app.inject({ method: 'PUT', url: '/v1/me/shop/orders/o1', headers: auth(user.token), payload: { n: 1 } });
    const res = await t.app.inject({ method: 'GET', url: '/v1/ops/dashboard', headers: operator() });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toContain('no-store');
    const s = res.json();
    expect(s.regions.map((r: { id: string }) => r.id)).toContain('in-mumbai');
    expect(s.regions.find((r: { id: string }) => r.id === 'br-saopaulo')).toMatchObject({
      status: 'planned',
      live: false,
      backend: 'sqlite',
    });
    expect(s.markets.find((m: { country: string }) => m.country === 'SG')).toMatchObject({
      compliance: 'compliant',
      homes: { shop: 'sg-singapore' },
    });
    expect(s.markets.find((m: { country: string }) => m.country === 'PH')).toMatchObject({ compliance: 'no-data' });
    expect(s.consent.find((c: { purpose: string }) => c.purpose === 'cloud-backup')).toMatchObject({
      granted: 1,
      denied: 0,
      withdrawn: 0,
    });
    expect(s.audit).toHaveLength(5);
    expect(s.audit.every((a: { verified: boolean; entries: number }) => a.verified && a.entries >= 1)).toBe(true);
    expect(s.migration).toBeNull();
  });

  it('streams the migration as Server-Sent Events, and ends the streams when the server closes', async () => {
    const t2 = await openTestPlatform('phase3');
    await t2.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t2.app.server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${address.port}/v1/ops/events`, {
      headers: auth(t2.platform.secrets.operatorToken),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe('event: migration\ndata: null\n\n');
    // Closing the server does not wait for the open stream: it ends it.
    const closed = await Promise.race([
      t2.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('stuck'), 5_000)),
    ]);
    expect(closed).toBe('closed');
    expect((await reader.read()).done).toBe(true);
  });

  it('serves the built page with a strict content policy, and sends /dashboard there', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/dashboard' })).headers.location).toBe('/dashboard/');
    const page = await t.app.inject({ method: 'GET', url: '/dashboard/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.body).toContain('Operator credential');
    const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const asset = await t.app.inject({ method: 'GET', url: script! });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    // The edge cache keeps a hashed asset as a CDN would, and serves the same bytes from then on; the page itself (no-cache) never.
    expect(asset.headers['x-cache']).toBe('MISS');
    const again = await t.app.inject({ method: 'GET', url: script! });
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.rawPayload.equals(asset.rawPayload)).toBe(true);
    expect(again.headers.etag).toBe(asset.headers.etag);
    expect((await t.app.inject({ method: 'GET', url: '/dashboard/' })).headers['x-cache']).toBeUndefined();
    // Nothing in the page or its code comes from elsewhere.
    expect(page.body).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect(asset.body).not.toMatch(/https?:\/\/(?!www\.w3\.org)[a-z]/);
  });
});
