import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DsarExport } from '../../src/dsar/dsar-service.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { Platform } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { regionPaths } from '../../src/region/open-region-node.js';
import { runCli } from '../support/cli.js';
import { filesHoldingBytes } from '../support/file-scan.js';
import { tempDir } from '../support/temp-dir.js';
import { auth, examplesDir, grant, liftedAuthThrottle, type Registered, register } from '../support/test-platform.js';

/**
 * Data subject requests through the real gateway: the export holds every record the user
 * wrote, in every service, with where it rests; after erasure, nothing of the user can be read
 * anywhere, no key that could open their old ciphertexts is left in any file, their tokens no
 * longer work, and every region's audit log keeps the erasure.
 */
describe('data subject requests', () => {
  const dir = tempDir('dsar');
  const dataDir = join(dir.path, 'data');
  let platform: Platform;
  let app: Awaited<ReturnType<typeof buildGateway>>;
  let user: Registered;
  let other: Registered;
  const written = new Map<string, unknown>();
  const canary = 'CANARY-dsar-3c1f-Redmi-Note';

  async function open(): Promise<void> {
    platform = await Platform.open({
      policy: await loadPolicyFile(join(examplesDir, 'phase3.yaml')),
      dataDir,
      durability: 'normal',
    });
    app = await buildGateway(platform, { throttle: liftedAuthThrottle });
  }
  async function close(): Promise<void> {
    await app.close();
    await platform.close();
  }

  beforeAll(async () => {
    await open();
    user = await register(app, {
      phone: '+91 98100 00001',
      password: 'dsar-password',
      market: 'IN',
      device: 'Redmi Note',
    });
    other = await register(app, { phone: '+65 9100 0002', password: 'dsar-password', market: 'SG' });
    await grant(app, user.token, 'cloud-backup');
    await grant(app, user.token, 'contact-discovery');
    const records: Array<[string, unknown]> = [
      ['shop/orders/o1', { sku: 'redmi-1s', note: canary }],
      ['shop/addresses/home', { city: 'Bengaluru' }],
      ['cloud/contacts/c1', { name: `${canary} contact` }],
      ['cloud/contacts/p1', { title: 'Diwali' }],
      ['messaging/messages/m1', { to: 'u_x', body: canary }],
      ['messaging/address-book/h1', { hash: 'ab12' }],
    ];
    for (const [path, value] of records) {
      const res = await app.inject({
        method: 'PUT',
        url: `/v1/me/${path}`,
        headers: auth(user.token),
        payload: value as Record<string, unknown>,
      });
      expect(res.statusCode, res.body).toBe(200);
      written.set(path, value);
    }
    await app.inject({
      method: 'PUT',
      url: '/v1/me/shop/orders/o1',
      headers: auth(other.token),
      payload: { kept: true },
    });
  });
  afterAll(async () => {
    await close().catch(() => undefined);
    dir.remove();
  });

  it('exports every record the user wrote, decrypted, with where it rests, and their consents', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/me/export', headers: auth(user.token) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toContain('no-store');
    const bundle = res.json() as DsarExport;
    expect(bundle.userId).toBe(user.userId);
    const found = new Map<string, unknown>();
    for (const region of bundle.regions) {
      for (const s of region.services) {
        for (const r of s.records) found.set(`${s.service}/${r.collection}/${r.key}`, { ...r, region: region.region });
      }
    }
    for (const [path, value] of written) expect(found.get(path), path).toMatchObject({ value, region: 'in-mumbai' });
    // Besides what it wrote through the records API, the device it registered from.
    const devices = [...found.keys()].filter((k) => k.startsWith('account/device/'));
    expect(devices).toEqual([`account/device/${user.sessionId}`]);
    expect(JSON.stringify(found.get(devices[0]!))).toContain('Redmi Note');
    expect(found.size).toBe(written.size + 1);
    const account = bundle.regions.flatMap((r) => r.services).find((s) => s.service === 'account')!;
    expect(account.credentials).toEqual({ phone: '+919810000001' });
    expect(JSON.stringify(bundle)).not.toMatch(/scrypt|passwordHash/);
    const cloud = bundle.regions.flatMap((r) => r.services).find((s) => s.service === 'cloud')!;
    expect(cloud.consents).toEqual([
      expect.objectContaining({ purpose: 'cloud-backup', history: [expect.objectContaining({ decision: 'grant' })] }),
    ]);
  });

  it('erases the user everywhere: nothing readable, no key left in any file, tokens dead, the audit entry kept', async () => {
    // What could open the user's data, as it rests now: their ciphertexts and wrapped keys.
    await close();
    const store = new Database(regionPaths(dataDir, 'in-mumbai').store, { readonly: true });
    const ciphertexts = store
      .prepare<[string], Buffer>('SELECT ciphertext FROM records WHERE user_id = ?')
      .pluck()
      .all(user.userId);
    const keys = store.prepare<[string], Buffer>('SELECT wrapped FROM keys WHERE user_id = ?').pluck().all(user.userId);
    store.close();
    expect(ciphertexts.length).toBeGreaterThanOrEqual(written.size);
    expect(keys.length).toBeGreaterThanOrEqual(5);
    for (const bytes of [...ciphertexts, ...keys]) expect(filesHoldingBytes(dataDir, bytes).length).toBeGreaterThan(0);
    await open();

    const erased = await app.inject({ method: 'DELETE', url: '/v1/me', headers: auth(user.token) });
    expect(erased.statusCode).toBe(202);
    const request = erased.json() as { id: string; state: string; regionsDone: string[] };
    expect(request.state).toBe('completed');
    expect(request.regionsDone.sort()).toEqual([...platform.regions.keys()].sort());

    expect((await app.inject({ method: 'GET', url: '/v1/me', headers: auth(user.token) })).statusCode).toBe(401);
    expect(await platform.directory.getUser(user.userId)).toBeUndefined();
    for (const client of platform.regions.values())
      expect(await client.describeUser({ userId: user.userId })).toEqual([]);
    // The other user is untouched.
    expect(
      (await app.inject({ method: 'GET', url: '/v1/me/shop/orders/o1', headers: auth(other.token) })).json(),
    ).toMatchObject({ value: { kept: true } });
    // The directory's files (its write-ahead log included) no longer hold the user id, freed pages included.
    const directoryDir = join(dataDir, 'directory');
    expect(filesHoldingBytes(directoryDir, Buffer.from(other.userId)).length).toBeGreaterThan(0);
    expect(filesHoldingBytes(directoryDir, Buffer.from(user.userId))).toEqual([]);
    await close();
    expect(filesHoldingBytes(directoryDir, Buffer.from(user.userId))).toEqual([]);

    // Scrubbed from the files, write-ahead logs included: no ciphertext, and no key that could open one.
    for (const bytes of [...ciphertexts, ...keys]) expect(filesHoldingBytes(dataDir, bytes)).toEqual([]);
    const status = await runCli(['dsar', 'status', request.id, '--data', dataDir, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      id: request.id,
      kind: 'erase',
      state: 'completed',
      userId: user.userId,
    });
    const verified = await runCli(['audit', 'verify', '--data', dataDir, '--json']);
    expect(verified.code, verified.stdout).toBe(0);
    const proof = await runCli(['audit', 'proof', '--data', dataDir, '--region', 'in-mumbai', '--seq', '1', '--json']);
    expect(JSON.parse(proof.stdout)).toMatchObject({ verified: true });
    const mumbai = new Database(regionPaths(dataDir, 'in-mumbai').store, { readonly: true });
    const entries = mumbai
      .prepare<[], string>("SELECT entry FROM audit_entries WHERE type IN ('dsar', 'key-shred')")
      .pluck()
      .all()
      .map((e) => JSON.parse(String(e)) as { event: Record<string, unknown> });
    mumbai.close();
    expect(entries.map((e) => e.event)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'dsar', kind: 'erase', user: user.userId, request: request.id }),
        expect.objectContaining({ type: 'key-shred', users: [user.userId], scopes: ['*'], reason: 'erasure' }),
      ]),
    );
    await open();
  });

  it('keeps an erasure that a region could not do pending across a restart, and finishes it then', async () => {
    const late = await register(app, { phone: '+91 98100 00003', password: 'dsar-password', market: 'IN' });
    await app.inject({ method: 'PUT', url: '/v1/me/shop/orders/o1', headers: auth(late.token), payload: { n: 1 } });
    await close();
    // Mumbai runs as its own process, and that process is down.
    const policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
    const partial = await Platform.open({
      policy,
      dataDir,
      durability: 'normal',
      remoteRegions: { 'in-mumbai': 'http://127.0.0.1:9' },
    });
    let id: string;
    try {
      const request = await partial.dsar.erase(late.userId, 'operator');
      id = request.id;
      expect(request.state).toBe('pending');
      expect(request.error).toMatch(/region in-mumbai/);
      expect(request.regionsDone).not.toContain('in-mumbai');
      expect(await partial.directory.getUser(late.userId)).toBeDefined();
    } finally {
      await partial.close();
    }
    // Back on its own feet, the platform resumes the erasure as it opens.
    await open();
    expect(await platform.dsar.status(id)).toMatchObject({ state: 'completed', error: null });
    expect(await platform.directory.getUser(late.userId)).toBeUndefined();
    expect(await platform.region('in-mumbai').describeUser({ userId: late.userId })).toEqual([]);
  });

  it("answers an erasure of an unknown user with a clear error from the CLI, and exports another user's part alone", async () => {
    await close();
    const erase = await runCli(['dsar', 'erase', 'u_nobody', '--data', dataDir]);
    expect(erase.code).toBe(2);
    expect(erase.stderr).toMatch(/no user u_nobody/);
    const exported = await runCli(['dsar', 'export', other.userId, '--data', dataDir]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({
      userId: other.userId,
      regions: [expect.objectContaining({ region: 'sg-singapore' })],
    });
    await open();
  });
});
