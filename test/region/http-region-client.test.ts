import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomicileError } from '../../src/errors/domicile-error.js';
import { HttpRegionClient } from '../../src/region/http-region-client.js';
import { InProcessRegionClient } from '../../src/region/in-process-region-client.js';
import { openRegionNode } from '../../src/region/open-region-node.js';
import type { RegionClient } from '../../src/region/region-client.js';
import { buildRegionServer } from '../../src/region/region-http-server.js';
import { plainHash } from '../../src/region/user-digest.js';
import { expectCode, fastScrypt, tempDir, testPolicy } from './fixtures.js';
import { digestOne, importOne, purgeOne, setOne } from './support/single-user-calls.js';

type Step = { ok: unknown } | { error: { code: string; message: string; details?: unknown } };

/** Runs one fixed sequence of calls, recording each result or error; timestamps become their type. */
async function transcript(client: RegionClient): Promise<Step[]> {
  const steps: Step[] = [];
  const record = async (call: () => Promise<unknown>): Promise<void> => {
    try {
      const result = await call();
      steps.push({
        ok: JSON.parse(
          JSON.stringify(result ?? null, (k, v: unknown) =>
            k === 'updatedAt' && typeof v === 'number' ? 'timestamp' : v,
          ),
        ),
      });
    } catch (err) {
      if (!(err instanceof DomicileError)) throw err;
      steps.push({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    }
  };
  const shop = { userId: 'u-1', service: 'shop', epoch: 1 };
  const account = { userId: 'u-1', service: 'account', epoch: 1 };
  await record(() => client.openTenancy({ ...shop, market: 'SG' }));
  await record(() => client.openTenancy({ ...account, market: 'SG' }));
  await record(() =>
    client.putRecord({
      ...shop,
      collection: 'orders',
      key: 'o1',
      value: { item: 'Mi 4', when: new Date(0), skip: undefined, n: Number.NaN },
    }),
  );
  await record(() =>
    client.putRecord({ ...shop, collection: 'orders', key: 'o1', value: { item: 'Mi 4i' }, ifVersion: 1 }),
  );
  await record(() => client.putRecord({ ...shop, collection: 'orders', key: 'o1', value: 'late', ifVersion: 1 }));
  await record(() => client.putRecord({ ...shop, collection: 'orders', key: 'o2', value: [1, 'two', null] }));
  await record(() => client.getRecord({ ...shop, collection: 'orders', key: 'o1' }));
  await record(() => client.getRecord({ ...shop, collection: 'orders', key: 'none' }));
  await record(() => client.listRecords(shop));
  await record(() => client.listRecords({ ...shop, collection: 'orders' }));
  await record(() => client.putRecord({ ...shop, collection: 'photos', key: 'p1', value: 1 }));
  await record(() => client.putRecord({ ...account, collection: '_credentials', key: 'login', value: {} }));
  await record(() => client.putRecord({ ...shop, collection: 'orders', key: 'o3', value: undefined }));
  await record(() => client.getRecord({ ...shop, userId: 'u-2', collection: 'orders', key: 'o1' }));
  await record(() => client.getRecord({ ...shop, epoch: 7, collection: 'orders', key: 'o1' }));
  await record(() => client.openTenancy({ userId: 'u-3', service: 'shop', epoch: 1, market: 'CN' }));
  await record(() => client.setCredentials({ ...account, email: 'Someone@Example.com', password: 'pw-123456' }));
  await record(() => client.verifyPassword({ ...account, password: 'pw-123456' }));
  await record(() => client.verifyPassword({ ...account, password: 'nope' }));
  await record(() => client.setCredentials({ ...account, phone: 'not a phone', password: 'pw' }));
  await record(() => client.deleteRecord({ ...shop, collection: 'orders', key: 'o2' }));
  await record(() => client.deleteRecord({ ...shop, collection: 'orders', key: 'o2' }));
  await record(() => client.describeUser({ userId: 'u-1' }));
  await record(() => client.placementStats());
  await record(() => client.health());
  // Migration primitives (steps 25 on).
  const moved = { userId: 'u-9', service: 'shop', market: 'SG' };
  const imported = {
    collection: 'orders',
    key: 'o1',
    version: 3,
    updatedAt: 1_400_000_000_000,
    value: { item: 'Mi 3', at: new Date(0) },
  };
  await record(() => client.changesSince({ afterSeq: 0, limit: 2 }));
  await record(() => client.changesSince({ afterSeq: 0, limit: 100, service: 'account' }));
  await record(() => client.changesSince({ afterSeq: 0, limit: 0 }));
  await record(() => client.exportUsers({ service: 'shop', userIds: ['u-1'] }));
  await record(() => client.exportUsers({ service: 'shop', userIds: ['u-nobody'] }));
  await record(() =>
    client.readRecordStates({
      service: 'shop',
      userId: 'u-1',
      refs: [
        { collection: 'orders', key: 'o1' },
        { collection: 'orders', key: 'o2' },
      ],
    }),
  );
  await record(() => digestOne(client, { service: 'shop', userId: 'u-1' }));
  await record(() =>
    importOne(client, { ...moved, userId: 'u-1', epoch: 1, states: { records: [imported], deleted: [] } }),
  );
  await record(() =>
    importOne(client, {
      ...moved,
      epoch: 1,
      states: { records: [imported], deleted: [{ collection: 'orders', key: 'o2' }] },
    }),
  );
  await record(() =>
    importOne(client, {
      ...moved,
      epoch: 1,
      states: { records: [imported], deleted: [{ collection: 'orders', key: 'o2' }] },
    }),
  );
  await record(() =>
    importOne(client, { ...moved, market: 'CN', epoch: 1, states: { records: [imported], deleted: [] } }),
  );
  await record(() =>
    importOne(client, { ...moved, epoch: 1, states: { records: [{ ...imported, version: 0 }], deleted: [] } }),
  );
  await record(() => digestOne(client, { service: 'shop', userId: 'u-9' }));
  await record(() => setOne(client, { ...moved, epoch: 2, status: 'moved', movedTo: null }));
  await record(() => setOne(client, { ...moved, epoch: 2, status: 'moved', movedTo: 'us-oregon' }));
  await record(() => setOne(client, { ...moved, epoch: 1, status: 'home', movedTo: null }));
  await record(() => client.getRecord({ userId: 'u-9', service: 'shop', epoch: 2, collection: 'orders', key: 'o1' }));
  await record(() => purgeOne(client, { userId: 'u-1', service: 'shop' }));
  await record(() => purgeOne(client, { userId: 'u-9', service: 'shop' }));
  await record(() => client.describeUser({ userId: 'u-9' }));
  await record(() => client.health());
  // Batches of users (steps 46 on).
  const user = (userId: string, market: string) => ({
    userId,
    market,
    epoch: 1,
    states: { records: [imported], deleted: [] },
  });
  await record(() => client.importUsers({ service: 'shop', users: [user('u-7', 'SG'), user('u-8', 'CN')] }));
  await record(() => client.exportUsers({ service: 'shop', userIds: ['u-7'] }));
  await record(() => client.importUsers({ service: 'shop', users: [user('u-7', 'SG'), user('u-7', 'SG')] }));
  await record(() =>
    client.setTenancies({
      service: 'shop',
      tenancies: [
        { ...moved, epoch: 3, status: 'fenced', movedTo: null },
        { ...moved, epoch: 3, status: 'home', movedTo: null },
      ],
    }),
  );
  await record(() => client.digestUsers({ service: 'shop', userIds: ['u-1', 'u-7'] }));
  return steps;
}

describe('HttpRegionClient against the region HTTP server', () => {
  const local = tempDir('http-local');
  const remote = tempDir('http-remote');
  const nodeToken = 'test-node-token-0123456789abcdef';
  let server: FastifyInstance;
  let baseUrl: string;
  let http: HttpRegionClient;
  let inProcess: InProcessRegionClient;

  beforeAll(async () => {
    const node = await openRegionNode({
      policy: testPolicy,
      regionId: 'sg-singapore',
      dataDir: remote.path,
      scrypt: fastScrypt,
    });
    server = buildRegionServer({ node, nodeToken });
    await server.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
    http = new HttpRegionClient({ regionId: 'sg-singapore', baseUrl, nodeToken });
    inProcess = new InProcessRegionClient(
      await openRegionNode({ policy: testPolicy, regionId: 'sg-singapore', dataDir: local.path, scrypt: fastScrypt }),
    );
  });
  afterAll(async () => {
    await http.close();
    await server.close();
    await inProcess.close();
    local.remove();
    remote.remove();
  });

  it('behaves exactly like the in-process client: results, error codes, messages and details', async () => {
    const viaHttp = await transcript(http);
    const viaProcess = await transcript(inProcess);
    expect(viaHttp).toEqual(viaProcess);

    // ...and what they agree on is right.
    const at = (i: number) => viaHttp[i] as Record<string, unknown>;
    expect(at(2)).toEqual({ ok: { version: 1, updatedAt: 'timestamp' } });
    expect(at(4)).toMatchObject({ error: { code: 'CONFLICT', details: { version: 2 } } });
    expect(at(6)).toEqual({
      ok: { collection: 'orders', key: 'o1', version: 2, updatedAt: 'timestamp', value: { item: 'Mi 4i' } },
    });
    expect(at(7)).toEqual({ ok: null });
    expect((at(8).ok as unknown[]).length).toBe(2);
    expect(at(10)).toMatchObject({
      error: {
        code: 'BAD_REQUEST',
        message: 'collection "photos" is not a category of service shop; use one of: orders',
      },
    });
    expect(at(11)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(at(12)).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'value' } } });
    expect(at(13)).toMatchObject({ error: { code: 'WRONG_REGION', details: { home: null } } });
    expect(at(14)).toMatchObject({ error: { code: 'STALE_EPOCH', details: { epoch: 1 } } });
    expect(at(15)).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(at(17)).toEqual({ ok: true });
    expect(at(18)).toEqual({ ok: false });
    expect(at(19)).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'phone' } } });
    expect(at(20)).toEqual({ ok: { deleted: true } });
    expect(at(21)).toEqual({ ok: { deleted: false } });
    expect(at(24)).toEqual({ ok: { regionId: 'sg-singapore', backend: 'sqlite', lastSeq: 5 } });
    expect(at(25)).toEqual({
      ok: {
        changes: [
          { seq: 1, userId: 'u-1', service: 'shop', collection: 'orders', key: 'o1', op: 'put', version: 1 },
          { seq: 2, userId: 'u-1', service: 'shop', collection: 'orders', key: 'o1', op: 'put', version: 2 },
        ],
        lastSeq: 5,
      },
    });
    expect((at(26).ok as { changes: Array<{ collection: string }> }).changes.map((c) => c.collection)).toEqual([
      '_credentials',
    ]);
    expect(at(27)).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'limit' } } });
    const exported = {
      collection: 'orders',
      key: 'o1',
      version: 2,
      updatedAt: 'timestamp',
      value: { item: 'Mi 4i' },
      hash: plainHash(Buffer.from('{"item":"Mi 4i"}')),
      bytes: 16,
    };
    expect(at(28)).toEqual({ ok: [{ userId: 'u-1', market: 'SG', records: [exported] }] });
    expect(at(29)).toMatchObject({ error: { code: 'WRONG_REGION', details: { home: null } } });
    expect(at(30)).toEqual({ ok: { records: [exported], deleted: [{ collection: 'orders', key: 'o2' }] } });
    expect(at(31)).toMatchObject({ ok: { userId: 'u-1', records: [{ collection: 'orders', key: 'o1', version: 2 }] } });
    expect(at(32)).toMatchObject({ error: { code: 'CONFLICT', details: { status: 'home' } } });
    expect(at(33)).toEqual({ ok: { applied: 1 } });
    expect(at(34)).toEqual({ ok: { applied: 0 } });
    expect(at(35)).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(at(36)).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'version' } } });
    expect(at(38)).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'movedTo' } } });
    expect(at(39)).toEqual({ ok: null });
    expect(at(40)).toMatchObject({ error: { code: 'STALE_EPOCH', details: { epoch: 2 } } });
    expect(at(41)).toMatchObject({ error: { code: 'WRONG_REGION', details: { home: 'us-oregon' } } });
    expect(at(42)).toMatchObject({ error: { code: 'CONFLICT', details: { status: 'home' } } });
    expect(at(43)).toEqual({ ok: { records: 1, keys: 2 } });
    // Purged, u-9's shop leaves nothing here that names it, not even its tenancy.
    expect(at(44)).toEqual({ ok: [] });
    // The imports into u-9's incoming tenancy were not logged: the log is where it was.
    expect(at(45)).toEqual({ ok: { regionId: 'sg-singapore', backend: 'sqlite', lastSeq: 5 } });
    // Batches: one user the policy does not place here refuses the whole import.
    expect(at(46)).toMatchObject({ error: { code: 'FORBIDDEN', details: { market: 'CN' } } });
    expect(at(47)).toMatchObject({ error: { code: 'WRONG_REGION' } });
    expect(at(48)).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'users' } } });
    expect(at(49)).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'tenancies' } } });
    // u-7 was never imported (the refused batch left nothing): it digests as holding nothing.
    expect(at(50)).toEqual({
      ok: [
        {
          userId: 'u-1',
          digest: expect.any(String),
          records: [{ collection: 'orders', key: 'o1', version: 2, hash: exported.hash }],
        },
        { userId: 'u-7', digest: expect.any(String), records: [] },
      ],
    });
  });

  it('pages a collection the same way, with the same opaque cursors and the same refusals (issue 14, item 11)', async () => {
    const ref = { userId: 'u-pages', service: 'cloud', epoch: 1 };
    const pages = async (client: RegionClient): Promise<unknown[]> => {
      await client.openTenancy({ ...ref, market: 'SG' });
      for (const key of ['ph_a', 'ph_a~000000', 'ph_b', 'ph_c'])
        await client.putRecord({ ...ref, collection: 'photos', key, value: { key } });
      const out: unknown[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listRecordPage({
          ...ref,
          collection: 'photos',
          limit: 2,
          withoutParts: true,
          ...(cursor === undefined ? {} : { cursor }),
        });
        out.push({ keys: page.records.map((r) => r.key), cursor: page.cursor });
        cursor = page.cursor ?? undefined;
      } while (cursor !== undefined);
      for (const bad of [{ limit: 0 }, { limit: 2, cursor: 'nope' }, { limit: 2.5 }]) {
        out.push(
          await client.listRecordPage({ ...ref, collection: 'photos', ...bad }).then(
            () => 'accepted',
            (err: DomicileError) => ({ code: err.code, message: err.message }),
          ),
        );
      }
      return out;
    };
    const viaHttp = await pages(http);
    const viaProcess = await pages(inProcess);
    // Pages follow the store's order of keyIds, which each region's own keys make: the two nodes
    // page the same records in pages of the same sizes, each record once, chunks left out.
    for (const listed of [viaHttp, viaProcess]) {
      const [first, last] = listed as Array<{ keys: string[]; cursor: string | null }>;
      expect([first!.keys.length, last!.keys.length]).toEqual([2, 1]);
      expect([typeof first!.cursor, last!.cursor]).toEqual(['string', null]);
      expect([...first!.keys, ...last!.keys].sort()).toEqual(['ph_a', 'ph_b', 'ph_c']);
    }
    expect(viaHttp.slice(2)).toEqual(viaProcess.slice(2));
    expect(viaHttp.slice(2)).toEqual([
      { code: 'BAD_REQUEST', message: expect.stringMatching(/limit is a whole number/) },
      { code: 'BAD_REQUEST', message: expect.stringMatching(/cursor is not one this listing gave/) },
      { code: 'BAD_REQUEST', message: expect.stringMatching(/limit is a whole number/) },
    ]);
  });

  it('normalises values the same way: a Date becomes its JSON string', async () => {
    const ref = { userId: 'u-dates', service: 'shop', epoch: 1 };
    for (const client of [http, inProcess]) {
      await client.openTenancy({ ...ref, market: 'MY' });
      await client.putRecord({ ...ref, collection: 'orders', key: 'd', value: { at: new Date(86_400_000) } });
      expect((await client.getRecord({ ...ref, collection: 'orders', key: 'd' }))?.value).toEqual({
        at: '1970-01-02T00:00:00.000Z',
      });
    }
  });

  it('refuses a wrong or missing node token with 401', async () => {
    const intruder = new HttpRegionClient({
      regionId: 'sg-singapore',
      baseUrl,
      nodeToken: 'wrong-token-0123456789abcdef',
    });
    const err = await expectCode(intruder.health(), 'UNAUTHENTICATED');
    expect(err.message).toContain('node token');
    const bare = await fetch(`${baseUrl}/region/v1/getRecord`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(bare.status).toBe(401);
    expect(await bare.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const basic = await fetch(`${baseUrl}/region/v1/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${nodeToken}` },
      body: '{}',
    });
    expect(basic.status).toBe(401);
  });

  it('answers health checks without a token, and JSON errors with sensible statuses', async () => {
    const health = await fetch(`${baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', regionId: 'sg-singapore' });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${nodeToken}` };
    const malformed = await fetch(`${baseUrl}/region/v1/getRecord`, { method: 'POST', headers, body: '{not json' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    const wrong = await fetch(`${baseUrl}/region/v1/getRecord`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ userId: 'nobody', service: 'shop', epoch: 1, collection: 'orders', key: 'k' }),
    });
    expect(wrong.status).toBe(409);
    expect(await wrong.json()).toEqual({
      error: {
        code: 'WRONG_REGION',
        message: 'this region does not home user nobody for service shop',
        details: { home: null, service: 'shop' },
        requestId: expect.stringMatching(/^req_/),
      },
    });
    const missing = await fetch(`${baseUrl}/region/v1/dropEverything`, { method: 'POST', headers, body: '{}' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const notObject = await fetch(`${baseUrl}/region/v1/getRecord`, { method: 'POST', headers, body: '[1,2]' });
    expect(notObject.status).toBe(400);
  });

  it('maps errors as the gateway does: a request id, nosniff, the scheme in any case, no internal name (issue 14, item 13)', async () => {
    const lower = await fetch(`${baseUrl}/region/v1/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `bearer ${nodeToken}` },
      body: '{}',
    });
    expect(lower.status).toBe(200);
    expect(lower.headers.get('x-content-type-options')).toBe('nosniff');
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${nodeToken}` };
    for (const [body, type, status, code] of [
      ['{not json', 'application/json', 400, 'BAD_REQUEST'],
      ['x', 'text/html', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ] as const) {
      const res = await fetch(`${baseUrl}/region/v1/getRecord`, {
        method: 'POST',
        headers: { ...headers, 'content-type': type },
        body,
      });
      expect(res.status).toBe(status);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const text = await res.text();
      expect(text).not.toMatch(/FST_|SyntaxError/);
      expect(JSON.parse(text).error).toMatchObject({ code, requestId: expect.stringMatching(/^req_/) });
    }
    const badUrl = await fetch(`${baseUrl}/region/v1/%E0%A4%A`, { method: 'POST', headers, body: '{}' });
    expect(badUrl.status).toBe(400);
    expect(await badUrl.text()).not.toMatch(/FST_/);
  });

  it('reports an unreachable region as UNAVAILABLE, naming it; its URL and the socket error are in the cause, for the log', async () => {
    const probe = buildRegionServer({
      node: await openRegionNode({ policy: testPolicy, regionId: 'us-oregon', dataDir: local.path }),
      nodeToken,
    });
    await probe.listen({ host: '127.0.0.1', port: 0 });
    const deadUrl = `http://127.0.0.1:${(probe.server.address() as AddressInfo).port}`;
    await probe.close();
    const dead = new HttpRegionClient({ regionId: 'us-oregon', baseUrl: deadUrl, nodeToken });
    const err = await expectCode(dead.health(), 'UNAVAILABLE');
    expect(err.message).toContain('region us-oregon');
    expect(err.message).not.toContain(deadUrl);
    expect(err.details).toEqual({ region: 'us-oregon', retryAfterSeconds: 5 });
    expect((err.cause as Error).message).toContain(deadUrl);
    expect((err.cause as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('refuses a short node token when the server is built', async () => {
    const node = await openRegionNode({ policy: testPolicy, regionId: 'cn-beijing', dataDir: local.path });
    expect(() => buildRegionServer({ node, nodeToken: 'short' })).toThrow(/at least 16 characters/);
    await node.close();
  });
});
