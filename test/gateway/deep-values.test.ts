import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { Platform } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { openRegionNode } from '../../src/region/open-region-node.js';
import { jsonTextDepth, nestsDeeperThan } from '../../src/shared/json-depth.js';
import { tempDir } from '../support/temp-dir.js';
import { auth, examplesDir, type Registered, register } from '../support/test-platform.js';

const nested = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);

describe("a value that breaks its owner's export (issue 14, item 10)", () => {
  const dir = tempDir('deep-values');
  let platform: Platform;
  let app: FastifyInstance;
  let user: Registered;
  const open = async (): Promise<void> => {
    const policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
    platform = await Platform.open({ policy, dataDir: dir.path, durability: 'normal' });
    app = await buildGateway(platform);
  };
  const close = async (): Promise<void> => {
    await app.close();
    await platform.close();
  };
  beforeAll(async () => {
    await open();
    user = await register(app, { email: 'deep@example.com', password: 'correct-horse', market: 'MY' });
  });
  afterAll(async () => {
    await close();
    dir.remove();
  });

  it('refuses a body nested deeper than 64 levels with a 400 naming the limit, and stores nothing', async () => {
    const url = '/v1/me/shop/orders/deep';
    const headers = { ...auth(user.token), 'content-type': 'application/json' };
    expect((await app.inject({ method: 'PUT', url, headers, payload: nested(64) })).statusCode).toBe(200);
    for (const levels of [65, 4_110]) {
      const res = await app.inject({ method: 'PUT', url, headers, payload: nested(levels) });
      expect(res.statusCode, String(levels)).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'BAD_REQUEST', details: { limit: 64 } });
      expect(res.json().error.message).toMatch(new RegExp(`nests ${levels} levels deep; at most 64`));
    }
    // The region checks before sealing, whoever calls it.
    const home = (await app.inject({ method: 'GET', url: '/v1/me', headers: auth(user.token) })).json().homes.shop;
    const direct = platform.region(home.region).putRecord({
      userId: user.userId,
      service: 'shop',
      epoch: home.epoch,
      collection: 'orders',
      key: 'deep',
      value: JSON.parse(nested(65)),
    });
    await expect(direct).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/nests 65 levels deep; at most 64/),
    });
    // Brackets inside strings are not nesting.
    const inString = await app.inject({
      method: 'PUT',
      url,
      headers,
      payload: JSON.stringify({ text: '[[[['.repeat(100) }),
    });
    expect(inString.statusCode).toBe(200);
    const read = await app.inject({ method: 'GET', url, headers: auth(user.token) });
    expect(read.json().value).toEqual({ text: '[[[['.repeat(100) });
  });

  it('lists, syncs and exports the rest of what an older version stored too deep, marking that record', async () => {
    expect(
      (
        await app.inject({
          method: 'PUT',
          url: '/v1/me/shop/orders/plain',
          headers: auth(user.token),
          payload: { sku: 'redmi-1s' },
        })
      ).statusCode,
    ).toBe(200);
    const homes = (await app.inject({ method: 'GET', url: '/v1/me', headers: auth(user.token) })).json().homes;
    const home: { region: string; epoch: number } = homes.shop;
    await close();
    // What a version without the limit stored: the deepest value its write could serialise.
    const policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
    const node = await openRegionNode({
      policy,
      regionId: home.region,
      dataDir: dir.path,
      durability: 'normal',
      maxValueDepth: 1_000_000,
    });
    const ref = { userId: user.userId, service: 'shop', epoch: home.epoch, collection: 'orders', key: 'too-deep' };
    let stored = 0;
    for (let levels = 3_000; levels < 20_000; levels += 50) {
      try {
        await node.putRecord({ ...ref, value: JSON.parse(nested(levels)) });
        stored = levels;
      } catch {
        break;
      }
    }
    await node.close();
    expect(stored).toBeGreaterThan(1_000);
    await open();

    for (const url of ['/v1/me/shop/orders', '/v1/me/sync/shop', '/v1/me/export']) {
      const res = await app.inject({ method: 'GET', url, headers: auth(user.token) });
      expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBe(200);
      expect(jsonTextDepth(res.body), url).toBeLessThan(100);
      expect(res.body, url).toContain('redmi-1s');
      expect(res.body, url).toMatch(
        /"key":"too-deep"[^}]*"value":null[^}]*"unreadable":"the value nests deeper than 1000 levels/,
      );
    }
    const one = await app.inject({ method: 'GET', url: '/v1/me/shop/orders/too-deep', headers: auth(user.token) });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({
      key: 'too-deep',
      value: null,
      unreadable: expect.stringMatching(/write it again/),
    });
  });

  it('measures nesting without recursion, whatever the depth', () => {
    expect(jsonTextDepth('"[{"')).toBe(0);
    expect(jsonTextDepth('{"a":"\\"[","b":[1,{"c":[]}]}')).toBe(4);
    expect(jsonTextDepth(nested(1_000_000))).toBe(1_000_000);
    expect(nestsDeeperThan(JSON.parse(nested(100_000)), 64)).toBe(true);
    expect(nestsDeeperThan(JSON.parse(nested(64)), 64)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: 'x' }] }, 2)).toBe(true);
    expect(nestsDeeperThan('scalar', 0)).toBe(false);
  });
});
