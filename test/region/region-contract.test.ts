import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordParams } from '../../src/gateway/http-schemas.js';
import { InProcessRegionClient } from '../../src/region/in-process-region-client.js';
import { openRegionNode } from '../../src/region/open-region-node.js';
import { type RegionClient, type RegionMethod, regionContract, regionMethods } from '../../src/region/region-client.js';
import { expectCode, fastScrypt, tempDir, testPolicy } from './fixtures.js';

/**
 * The region contract says what every method takes and answers; these cases hold the node to
 * the answers (each result, parsed by its method's output schema, loses nothing: a field the
 * schema lacks would be stripped and the comparison fail) and the gateway and the node to the
 * same limits.
 */
describe('the region contract', () => {
  const dir = tempDir('contract');
  let client: RegionClient;
  const results: Array<{ method: RegionMethod; result: unknown }> = [];

  beforeAll(async () => {
    const inner = new InProcessRegionClient(
      await openRegionNode({ policy: testPolicy, regionId: 'sg-singapore', dataDir: dir.path, scrypt: fastScrypt }),
    );
    // Every call's result is kept with its method's name.
    client = new Proxy(inner, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof name !== 'string' || !(regionMethods as string[]).includes(name) || typeof value !== 'function')
          return value;
        return async (req: unknown) => {
          const result = await (value as (req: unknown) => Promise<unknown>).call(target, req);
          results.push({ method: name as RegionMethod, result });
          return result;
        };
      },
    });
  });
  afterAll(async () => {
    await client.close();
    dir.remove();
  });

  it('answers every method with what its output schema says, and nothing more', async () => {
    const shop = { userId: 'u-1', service: 'shop', epoch: 1 };
    const account = { userId: 'u-1', service: 'account', epoch: 1 };
    const messaging = { userId: 'u-1', service: 'messaging', epoch: 1 };
    await client.health();
    await client.openTenancy({ ...shop, market: 'SG' });
    await client.openTenancy({ ...account, market: 'SG' });
    await client.openTenancy({ ...messaging, market: 'SG' });
    await client.putRecord({ ...shop, collection: 'orders', key: 'o1', value: { item: 'Mi 4' } });
    await client.putRecord({ ...shop, collection: 'orders', key: 'o2', value: [1, 'two'] });
    await client.getRecord({ ...shop, collection: 'orders', key: 'o1' });
    await client.listRecords(shop);
    await client.listRecordPage({ ...shop, collection: 'orders', limit: 1 });
    await client.deleteRecord({ ...shop, collection: 'orders', key: 'o2' });
    await client.setCredentials({ ...account, email: 'someone@example.com', password: 'pw-123456' });
    await client.verifyPassword({ ...account, password: 'pw-123456' });
    await client.recordConsent({
      ...messaging,
      purpose: 'address-book-sync',
      decision: 'grant',
      method: 'settings',
      source: 'test',
    });
    await client.readConsents(messaging);
    await client.consentStats();
    await client.placementStats();
    await client.describeUser({ userId: 'u-1' });
    await client.changesSince({ afterSeq: 0, limit: 10 });
    await client.exportUsers({ service: 'shop', userIds: ['u-1'] });
    await client.readRecordStates({
      service: 'shop',
      userId: 'u-1',
      refs: [
        { collection: 'orders', key: 'o1' },
        { collection: 'orders', key: 'o2' },
      ],
    });
    await client.digestUsers({ service: 'shop', userIds: ['u-1'] });
    await client.importUsers({
      service: 'shop',
      users: [
        {
          userId: 'u-9',
          market: 'SG',
          epoch: 1,
          states: { records: [{ collection: 'orders', key: 'o1', version: 3, updatedAt: 0, value: 'x' }], deleted: [] },
        },
      ],
    });
    await client.setTenancies({
      service: 'shop',
      tenancies: [{ userId: 'u-9', market: 'SG', epoch: 2, status: 'moved', movedTo: 'us-oregon' }],
    });
    await client.purgeUsers({ service: 'shop', userIds: ['u-9'] });
    // A coordinator's fencing token: raised, then an older one refused, a newer one taken.
    await client.raiseFence({ fence: { migration: 'm-1', token: 2 } });
    await expect(
      client.exportUsers({ service: 'shop', userIds: ['u-1'], fence: { migration: 'm-1', token: 1 } }),
    ).rejects.toMatchObject({ code: 'STALE_LEADER' });
    await client.exportUsers({ service: 'shop', userIds: ['u-1'], fence: { migration: 'm-1', token: 3 } });
    await expect(client.raiseFence({ fence: { migration: 'm-1', token: 2 } })).rejects.toMatchObject({
      code: 'STALE_LEADER',
    });
    await client.recordEvents({
      events: [
        {
          id: 'contract-test',
          event: {
            type: 'residency-report',
            hash: 'a'.repeat(64),
            violations: 0,
            policy: { name: testPolicy.name, version: 1 },
          },
        },
      ],
    });
    await client.readAudit({ afterSeq: 0, limit: 100 });
    await client.exportUser({ userId: 'u-1', request: 'r-1' });
    await client.eraseUser({ userId: 'u-1', request: 'r-2' });

    // A method added to the contract without a case here fails this test.
    expect(new Set(results.map((r) => r.method))).toEqual(new Set(regionMethods));
    for (const { method, result } of results) {
      const parsed = regionContract[method].output.safeParse(result);
      expect(parsed.success, `${method}: ${parsed.success ? '' : parsed.error.message}`).toBe(true);
      expect(parsed.data, method).toEqual(result);
    }
  });

  it('refuses a result field its schema lacks (the check above can fail)', () => {
    const parsed = regionContract.putRecord.output.parse({ version: 1, updatedAt: 2, extra: 'leak' });
    expect(parsed).not.toEqual({ version: 1, updatedAt: 2, extra: 'leak' });
  });

  it('takes record keys of the same length at the gateway and in the node', async () => {
    const ref = { userId: 'u-keys', service: 'shop', epoch: 1 };
    await client.openTenancy({ ...ref, market: 'SG' });
    const longest = 'k'.repeat(128);
    const tooLong = 'k'.repeat(129);
    expect(recordParams.safeParse({ service: 'shop', collection: 'orders', key: longest }).success).toBe(true);
    expect(recordParams.safeParse({ service: 'shop', collection: 'orders', key: tooLong }).success).toBe(false);
    expect(await client.putRecord({ ...ref, collection: 'orders', key: longest, value: 1 })).toMatchObject({
      version: 1,
    });
    // The node took keys of up to 256 characters before; a gateway never sent one.
    const refused = await expectCode(
      client.putRecord({ ...ref, collection: 'orders', key: tooLong, value: 1 }),
      'BAD_REQUEST',
    );
    expect(refused.details).toMatchObject({ field: 'key' });
  });

  it('refuses a market in any other form with the same message everywhere', async () => {
    const node = await expectCode(
      client.openTenancy({ userId: 'u-m', service: 'shop', epoch: 1, market: 'sg' }),
      'BAD_REQUEST',
    );
    expect(node.message).toBe('market is an ISO 3166-1 alpha-2 country code in capitals, for example IN');
    expect(node.details).toMatchObject({ field: 'market' });
  });
});
