import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedServer, spawnServer, syntheticClientFlags } from '../../bench/spawn-server.js';
import { domicileBin, runCli } from '../support/cli.js';
import { filesContaining, listFiles } from '../support/file-scan.js';
import { tempDir } from '../support/temp-dir.js';

// biome-ignore lint/suspicious/noExplicitAny: the test walks many answers' shapes; issue 18's typed client will type them
type Json = any;

async function call(
  url: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

describe('a real `domicile up` process', () => {
  const data = tempDir('e2e-up');
  let server: SpawnedServer;
  let output = '';
  beforeAll(async () => {
    server = await spawnServer(
      [domicileBin, 'up', '--data', data.path, '--port', '0', ...syntheticClientFlags],
      /gateway/,
    );
    server.child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    server.child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  });
  afterAll(async () => {
    await server.stop();
    data.remove();
  });

  it('serves a whole flow: register, log in, records, devices, revoke', async () => {
    const reg = await call(server.url, 'POST', '/v1/accounts', undefined, {
      phone: '+65 9123 4567',
      password: 'flow-password',
      market: 'SG',
      device: 'Mi 3',
    });
    expect(reg.status).toBe(201);
    const { token, userId } = reg.json;
    // Cloud backups need the cloud-backup purpose: refused (403, naming it) until the user grants it.
    const refused = await call(server.url, 'PUT', '/v1/me/cloud/contacts/p1', token, { title: 'CANARY-PHOTO-7f3a' });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: 'CONSENT_REQUIRED', details: { purpose: 'cloud-backup' } });
    expect(
      (
        await call(server.url, 'PUT', '/v1/me/consents/cloud-backup', token, {
          decision: 'grant',
          noticeVersion: '2014-08',
        })
      ).status,
    ).toBe(200);
    expect(
      (await call(server.url, 'PUT', '/v1/me/cloud/contacts/p1', token, { title: 'CANARY-PHOTO-7f3a' })).status,
    ).toBe(200);
    const read = await call(server.url, 'GET', '/v1/me/cloud/contacts/p1', token);
    expect(read.json.value).toEqual({ title: 'CANARY-PHOTO-7f3a' });
    const login = await call(server.url, 'POST', '/v1/sessions', undefined, {
      phone: '+6591234567',
      password: 'flow-password',
      device: 'Redmi Note',
    });
    expect(login.status).toBe(200);
    expect(login.json.userId).toBe(userId);
    const revoke = await call(server.url, 'DELETE', `/v1/me/devices/${login.json.sessionId}`, token);
    expect(revoke.status).toBe(204);
    expect((await call(server.url, 'GET', '/v1/me', login.json.token)).status).toBe(401);
    expect((await call(server.url, 'GET', '/v1/me', token)).json.homes.cloud.region).toBe('sg-singapore');

    const where = await runCli(['where', userId, '--data', data.path, '--json']);
    expect(where.code).toBe(0);
    const report = JSON.parse(where.stdout);
    expect(report.holdings.map((h: { region: string }) => h.region)).toEqual(['sg-singapore']);
    const cloud = report.holdings[0].services.find((s: { service: string }) => s.service === 'cloud');
    // The backup, and the consent ledger that allowed it (one record per purpose), rest together.
    expect(cloud.collections).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ collection: 'contacts', records: 1 }),
        expect.objectContaining({ collection: '_consent', records: 1 }),
      ]),
    );
    expect(cloud.collections).toHaveLength(2);
  });

  it("serves the catalog from its edge cache, sells a flash-sale unit whose order rests in the buyer's region, and stores nothing personal at the edge", async () => {
    const first = await fetch(`${server.url}/v1/catalog`);
    expect(first.headers.get('cache-control')).toBe('public, max-age=60');
    const again = await fetch(`${server.url}/v1/catalog`, { headers: { 'if-none-match': first.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('x-cache')).toBe('HIT');

    const buyer = await call(server.url, 'POST', '/v1/accounts', undefined, {
      email: 'buyer@example.com',
      password: 'buyer-password',
      market: 'IN',
    });
    const claim = await call(server.url, 'POST', '/v1/shop/sales/redmi-1s-india/claims', buyer.json.token);
    expect(claim.status).toBe(201);
    expect(claim.json).toMatchObject({
      saleId: 'redmi-1s-india',
      sku: 'redmi-1s',
      unit: 1,
      order: { key: 'sale-redmi-1s-india' },
    });
    expect(
      (await call(server.url, 'POST', '/v1/shop/sales/redmi-1s-india/claims', buyer.json.token)).json.error.details
        .reason,
    ).toBe('already-bought');
    // The order follows in the buyer's shop home (Mumbai under phase 3).
    let order: { status: number; json: Json } | undefined;
    for (let i = 0; i < 100 && order?.status !== 200; i++) {
      order = await call(server.url, 'GET', '/v1/me/shop/orders/sale-redmi-1s-india', buyer.json.token);
      if (order.status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(order?.json.value).toMatchObject({ sku: 'redmi-1s', unit: 1, status: 'confirmed' });
    const where = JSON.parse((await runCli(['where', buyer.json.userId, '--data', data.path, '--json'])).stdout);
    expect(where.holdings.map((h: { region: string }) => h.region)).toEqual(['in-mumbai']);

    const personal = await fetch(`${server.url}/v1/me/shop/orders/sale-redmi-1s-india`, {
      headers: { authorization: `Bearer ${buyer.json.token}` },
    });
    expect(personal.headers.get('cache-control')).toBe('private, no-store');
    expect(personal.headers.get('x-cache')).toBeNull();
  });

  it('delivers a message across regions, audited in both; discovers contacts only with consent, keeping none; syncs exactly the changes since a token', async () => {
    const operator = readFileSync(join(data.path, 'secrets', 'operator.token'), 'utf8').trim();
    const sender = (
      await call(server.url, 'POST', '/v1/accounts', undefined, {
        phone: '+91 99000 11111',
        password: 'msg-password',
        market: 'IN',
      })
    ).json;
    const recipient = (
      await call(server.url, 'POST', '/v1/accounts', undefined, {
        phone: '+65 9000 2222',
        password: 'msg-password',
        market: 'SG',
      })
    ).json;
    // By phone number a send asks who uses the service, as discovery does: not without its consent.
    const byPhone = await call(server.url, 'POST', '/v1/me/messages', sender.token, {
      to: { phone: '+6590002222' },
      text: 'CANARY-E2E-MESSAGE-5b7e',
    });
    expect(byPhone.status).toBe(403);
    expect(byPhone.json.error).toMatchObject({ code: 'CONSENT_REQUIRED', details: { purpose: 'contact-discovery' } });
    const sent = await call(server.url, 'POST', '/v1/me/messages', sender.token, {
      to: { userId: recipient.userId },
      text: 'CANARY-E2E-MESSAGE-5b7e',
    });
    expect(sent.status).toBe(201);
    expect(sent.json.crossBorder).toEqual({ from: 'in-mumbai', to: 'sg-singapore' });
    const inbox = await call(server.url, 'GET', '/v1/me/messages', recipient.token);
    expect(inbox.json.messages).toEqual([
      expect.objectContaining({ id: sent.json.id, with: sender.userId, text: 'CANARY-E2E-MESSAGE-5b7e' }),
    ]);
    for (const [region, role] of [
      ['in-mumbai', 'source'],
      ['sg-singapore', 'destination'],
    ]) {
      const page = await call(server.url, 'GET', `/v1/ops/audit/${region}`, operator);
      const events = (page.json.entries as Array<{ entry: string }>).map((e) => JSON.parse(e.entry).event);
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'delivery', kind: 'message', message: sent.json.id, role }),
      );
    }

    // Contact discovery: refused without consent, then matches from hashes alone.
    const params = (await call(server.url, 'GET', '/v1/me/contact-discovery', sender.token)).json;
    const book = ['+6590002222', '+6591110001', '+919911100002'];
    const hashes = book.map((phone) =>
      createHmac('sha256', Buffer.from(params.key, 'base64url'))
        .update(`domicile/discovery/v1\u0000${phone}`)
        .digest('base64url'),
    );
    expect((await call(server.url, 'POST', '/v1/me/contact-discovery', sender.token, { hashes })).status).toBe(403);
    expect(
      (
        await call(server.url, 'PUT', '/v1/me/consents/contact-discovery', sender.token, {
          decision: 'grant',
          noticeVersion: '2014-08',
        })
      ).status,
    ).toBe(200);
    expect((await call(server.url, 'POST', '/v1/me/contact-discovery', sender.token, { hashes })).json.matches).toEqual(
      [{ hash: hashes[0], userId: recipient.userId }],
    );
    for (const needle of ['6591110001', '919911100002', hashes[1]!, hashes[2]!])
      expect(filesContaining(data.path, needle), needle).toEqual([]);

    // Sync: a snapshot, then exactly what changed since.
    expect(
      (
        await call(server.url, 'PUT', '/v1/me/consents/cloud-backup', recipient.token, {
          decision: 'grant',
          noticeVersion: '2014-08',
        })
      ).status,
    ).toBe(200);
    await call(server.url, 'PUT', '/v1/me/cloud/contacts/c1', recipient.token, { name: 'one' });
    await call(server.url, 'PUT', '/v1/me/cloud/contacts/c2', recipient.token, { name: 'two' });
    const first = (await call(server.url, 'GET', '/v1/me/sync/cloud', recipient.token)).json;
    expect(first.changes.map((c: { key: string }) => c.key).sort()).toEqual(['c1', 'c2']);
    await call(server.url, 'PUT', '/v1/me/cloud/contacts/c2', recipient.token, { name: 'two, again' });
    await call(server.url, 'DELETE', '/v1/me/cloud/contacts/c1', recipient.token);
    await call(server.url, 'PUT', '/v1/me/cloud/contacts/c3', recipient.token, { name: 'three' });
    const since = (await call(server.url, 'GET', `/v1/me/sync/cloud?since=${first.token}`, recipient.token)).json;
    expect(since.changes.map((c: { key: string; op: string }) => `${c.op} ${c.key}`).sort()).toEqual([
      'delete c1',
      'put c2',
      'put c3',
    ]);
  });

  it('resumes an interrupted photo upload and gives back the same bytes', async () => {
    const owner = await call(server.url, 'POST', '/v1/accounts', undefined, {
      email: 'photo-owner@example.com',
      password: 'photo-password',
      market: 'MY',
    });
    const token = owner.json.token as string;
    expect(
      (
        await call(server.url, 'PUT', '/v1/me/consents/cloud-backup', token, {
          decision: 'grant',
          noticeVersion: '2014-08',
        })
      ).status,
    ).toBe(200);
    const photo = randomBytes(3 * 512 * 1024 + 777);
    const sha256 = createHash('sha256').update(photo).digest('hex');
    const started = await call(server.url, 'POST', '/v1/me/photos', token, {
      name: 'IMG_2014.jpg',
      contentType: 'image/jpeg',
      size: photo.length,
      sha256,
    });
    expect(started.status).toBe(201);
    const { id, chunkSize } = started.json as { id: string; chunkSize: number };
    const put = (i: number, signal?: AbortSignal) =>
      fetch(`${server.url}/v1/me/photos/${id}/chunks/${i}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
        body: photo.subarray(i * chunkSize, (i + 1) * chunkSize),
        ...(signal ? { signal } : {}),
      });
    expect((await put(0)).status).toBe(200);
    // The network drops while chunk 1 is on its way.
    const cut = new AbortController();
    const sending = put(1, cut.signal);
    cut.abort();
    await expect(sending).rejects.toThrow();
    const resume = await call(server.url, 'GET', `/v1/me/photos/${id}`, token);
    expect(resume.json.missing).toEqual(expect.arrayContaining([2, 3]));
    for (const i of resume.json.missing as number[]) expect((await put(i)).status).toBe(200);
    expect((await call(server.url, 'POST', `/v1/me/photos/${id}/complete`, token)).json.state).toBe('complete');
    const back = await fetch(`${server.url}/v1/me/photos/${id}/content`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(Buffer.from(await back.arrayBuffer()).equals(photo)).toBe(true);
  });

  it('has a clean residency report after users from CN, IN, MY, SG, US and BR wrote under phase3', async () => {
    const expected: Record<string, string> = {
      CN: 'cn-beijing',
      IN: 'in-mumbai',
      MY: 'sg-singapore',
      SG: 'sg-singapore',
      US: 'us-california',
      BR: 'us-california',
    };
    for (const [i, market] of Object.keys(expected).entries()) {
      for (let n = 0; n < 3; n++) {
        const reg = await call(server.url, 'POST', '/v1/accounts', undefined, {
          email: `mix-${market}-${n}@example.com`,
          password: 'mix-password',
          market,
        });
        expect(reg.status).toBe(201);
        for (const [service, collection] of [
          ['shop', 'orders'],
          ['account', 'identity'],
          ['messaging', 'messages'],
        ] as const) {
          const put = await call(server.url, 'PUT', `/v1/me/${service}/${collection}/k${i}-${n}`, reg.json.token, {
            n,
            market,
          });
          expect(put.status).toBe(200);
        }
      }
    }
    const res = await runCli(['report', 'residency', '--data', data.path, '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.violations).toEqual([]);
    for (const [market, region] of Object.entries(expected)) {
      const shop = report.rows.find(
        (r: { market: string; service: string }) => r.market === market && r.service === 'shop',
      );
      expect(shop, market).toMatchObject({ region, allowed: true });
      expect(shop.records).toBeGreaterThanOrEqual(3);
    }
    const text = await runCli(['report', 'residency', '--data', data.path]);
    expect(text.stdout).toMatch(/No violations/);
  });

  it('keeps every canary and login identifier out of every file and out of the logs', async () => {
    const reg = await call(server.url, 'POST', '/v1/accounts', undefined, {
      phone: '+91 99887 76655',
      email: 'canary.person@example.org',
      password: 'canary-password',
      market: 'IN',
      device: 'CANARY-DEVICE-NAME',
    });
    await call(server.url, 'PUT', '/v1/me/shop/addresses/home', reg.json.token, { line1: 'CANARY-ADDRESS-42 MG Road' });
    await server.stop();
    const files = listFiles(data.path);
    expect(files.some((f) => f.endsWith('store.db'))).toBe(true);
    for (const canary of [
      'CANARY-ADDRESS-42',
      'CANARY-DEVICE-NAME',
      'CANARY-PHOTO-7f3a',
      '919988776655',
      'canary.person@example.org',
      'mix-CN-0@example.com',
      'canary-password',
    ]) {
      expect(filesContaining(data.path, canary), canary).toEqual([]);
      expect(output.includes(canary), `logs hold ${canary}`).toBe(false);
    }
    server = await spawnServer(
      [domicileBin, 'up', '--data', data.path, '--port', '0', ...syntheticClientFlags],
      /gateway/,
    );
    const back = await call(server.url, 'POST', '/v1/sessions', undefined, {
      email: 'canary.person@example.org',
      password: 'canary-password',
    });
    expect(back.status).toBe(200);
    expect((await call(server.url, 'GET', '/v1/me/shop/addresses/home', back.json.token)).json.value).toEqual({
      line1: 'CANARY-ADDRESS-42 MG Road',
    });
  });
});

describe('a region running as its own process', () => {
  const data = tempDir('e2e-region');
  let region: SpawnedServer;
  let gateway: SpawnedServer;
  beforeAll(async () => {
    region = await spawnServer(
      [domicileBin, 'region', '--id', 'sg-singapore', '--data', data.path, '--port', '0'],
      /is up at/,
    );
    gateway = await spawnServer(
      [
        domicileBin,
        'up',
        '--data',
        data.path,
        '--port',
        '0',
        '--region-url',
        `sg-singapore=${region.url}`,
        ...syntheticClientFlags,
      ],
      /gateway/,
      { DOMICILE_LOG: 'off' },
    );
  });
  afterAll(async () => {
    await gateway.stop();
    await region.stop();
    data.remove();
  });

  it('serves its users over HTTP, and the gateway reports it unavailable when it stops', async () => {
    const sg = await call(gateway.url, 'POST', '/v1/accounts', undefined, {
      email: 'remote@example.com',
      password: 'remote-password',
      market: 'SG',
    });
    expect(sg.status).toBe(201);
    const inUser = await call(gateway.url, 'POST', '/v1/accounts', undefined, {
      email: 'local@example.com',
      password: 'local-password',
      market: 'IN',
    });
    expect((await call(gateway.url, 'PUT', '/v1/me/shop/orders/o1', sg.json.token, { sku: 'mi-band' })).status).toBe(
      200,
    );
    expect((await call(gateway.url, 'GET', '/v1/me/shop/orders/o1', sg.json.token)).json.value).toEqual({
      sku: 'mi-band',
    });
    const health = await call(gateway.url, 'GET', '/healthz');
    expect(health.json.regions).toContainEqual({ region: 'sg-singapore', ok: true, backend: 'sqlite' });

    const where = await runCli(['where', sg.json.userId, '--data', data.path, '--json']);
    const holding = JSON.parse(where.stdout).holdings;
    expect(holding.map((h: { region: string }) => h.region)).toEqual(['sg-singapore']);

    // The region's node refuses callers without the node credential.
    const direct = await fetch(`${region.url}/region/v1/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(direct.status).toBe(401);

    await region.stop();
    const down = await call(gateway.url, 'GET', '/v1/me/shop/orders/o1', sg.json.token);
    expect(down.status).toBe(503);
    expect(down.json.error.code).toBe('UNAVAILABLE');
    expect(down.json.error.message).toMatch(/sg-singapore/);
    expect((await call(gateway.url, 'PUT', '/v1/me/shop/orders/o1', inUser.json.token, { sku: 'redmi' })).status).toBe(
      200,
    );
  });
});
