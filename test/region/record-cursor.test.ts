import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRegionNode } from '../../src/region/open-region-node.js';
import type { RegionNode } from '../../src/region/region-node.js';
import { expectCode, fastScrypt, tempDir, testPolicy } from './fixtures.js';

/**
 * A listing's cursor names a keyId under the serving region's user key: another region (the
 * user's new home after a cut-over between two pages), or the same region at another epoch, has
 * unrelated keyIds, and would skip or repeat records silently. It refuses the cursor instead.
 */
describe('a paging cursor is good for the region and epoch that gave it', () => {
  let dir: ReturnType<typeof tempDir>;
  let sg: RegionNode;
  let us: RegionNode;
  const ref = { userId: 'u-alice', service: 'shop', epoch: 1 };

  beforeEach(async () => {
    dir = tempDir('record-cursor');
    sg = await openRegionNode({
      policy: testPolicy,
      regionId: 'sg-singapore',
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
    });
    us = await openRegionNode({
      policy: testPolicy,
      regionId: 'us-oregon',
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
    });
    for (const node of [sg, us]) {
      await node.openTenancy({ ...ref, market: 'SG' });
      for (let i = 0; i < 6; i++) await node.putRecord({ ...ref, collection: 'orders', key: `o${i}`, value: { i } });
    }
  });
  afterEach(async () => {
    await sg.close();
    await us.close();
    dir.remove();
  });

  it('refuses a cursor of another region with a clear 400, and pages on where it was given', async () => {
    const first = await sg.listRecordPage({ ...ref, collection: 'orders', limit: 2 });
    expect(first.cursor).toEqual(expect.any(String));
    const moved = await expectCode(
      us.listRecordPage({ ...ref, collection: 'orders', limit: 2, cursor: first.cursor! }),
      'BAD_REQUEST',
    );
    expect(moved.message).toMatch(/the listing moved; list again from the start/);
    expect(moved.details).toMatchObject({ field: 'cursor' });
    // Where it was given, it goes on: every record once.
    const keys = first.records.map((r) => r.key);
    let cursor = first.cursor;
    while (cursor !== null) {
      const page = await sg.listRecordPage({ ...ref, collection: 'orders', limit: 2, cursor });
      keys.push(...page.records.map((r) => r.key));
      cursor = page.cursor;
    }
    expect(keys.sort()).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5']);
  });

  it('refuses a cursor given at another epoch of the same region', async () => {
    const first = await sg.listRecordPage({ ...ref, collection: 'orders', limit: 2 });
    // The user moved away and back: homed here again at a later epoch.
    await sg.openTenancy({ ...ref, epoch: 2, market: 'SG' });
    const moved = await expectCode(
      sg.listRecordPage({ ...ref, epoch: 2, collection: 'orders', limit: 2, cursor: first.cursor! }),
      'BAD_REQUEST',
    );
    expect(moved.message).toMatch(/the listing moved; list again from the start/);
    // A cursor of another collection is still not one this listing gave.
    const other = await expectCode(
      sg.listRecordPage({ ...ref, epoch: 2, collection: 'orders', limit: 2, cursor: 'bm9wZQ' }),
      'BAD_REQUEST',
    );
    expect(other.message).toMatch(/cursor is not one this listing gave/);
  });
});
