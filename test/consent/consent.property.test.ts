import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDomicileError } from '../../src/errors/domicile-error.js';
import { openRegionNode, regionPaths } from '../../src/region/open-region-node.js';
import type { RegionNode } from '../../src/region/region-node.js';
import { expectCode, fastScrypt, tempDir, testPolicy } from '../region/fixtures.js';

/**
 * In the test policy, messaging/contacts needs the purpose address-book-sync and
 * messaging/messages needs none. Across random sequences of decisions and writes by a few
 * users, checked against the region's own file after every step: no contacts record is ever
 * stored without a current grant, none survives a decision that is not a grant, and the
 * shredded category key is gone with them.
 */
type Op =
  | { kind: 'decide'; user: number; decision: 'grant' | 'deny' | 'withdraw' }
  | { kind: 'put'; user: number; collection: 'contacts' | 'messages'; key: number }
  | { kind: 'delete'; user: number; collection: 'contacts' | 'messages'; key: number };

const users = ['u-a', 'u-b', 'u-c'];
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('decide' as const),
    user: fc.nat(2),
    decision: fc.constantFrom('grant' as const, 'deny' as const, 'withdraw' as const),
  }),
  fc.record({
    kind: fc.constant('put' as const),
    user: fc.nat(2),
    collection: fc.constantFrom('contacts' as const, 'messages' as const),
    key: fc.nat(3),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    user: fc.nat(2),
    collection: fc.constantFrom('contacts' as const, 'messages' as const),
    key: fc.nat(3),
  }),
);

describe('consent, enforced where the data rests', () => {
  let dir: ReturnType<typeof tempDir>;
  let node: RegionNode;
  let n = 0;
  beforeEach(() => {
    dir = tempDir('consent');
  });
  afterEach(async () => {
    await node?.close();
    dir.remove();
  });

  it('never stores a gated record without a current grant, and none survives a withdrawal', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        // A fresh region per run, opened non-exclusively so the test can read its file as an attacker would.
        await node?.close();
        const data = `${dir.path}/run-${n++}`;
        node = await openRegionNode({
          policy: testPolicy,
          regionId: 'sg-singapore',
          dataDir: data,
          scrypt: fastScrypt,
          exclusive: false,
        });
        const file = new Database(regionPaths(data, 'sg-singapore').store, { readonly: true });
        try {
          for (const u of users) await node.openTenancy({ userId: u, service: 'messaging', epoch: 1, market: 'SG' });
          const granted = new Set<string>();
          const ref = (u: string) => ({ userId: u, service: 'messaging', epoch: 1 });
          for (const o of ops) {
            const u = users[o.user]!;
            if (o.kind === 'decide') {
              const ledger = await node.recordConsent({
                ...ref(u),
                purpose: 'address-book-sync',
                decision: o.decision,
                method: 'test',
                source: 'property',
              });
              expect(ledger.history.at(-1)?.decision).toBe(o.decision);
              if (o.decision === 'grant') granted.add(u);
              else granted.delete(u);
            } else if (o.kind === 'put') {
              const put = node.putRecord({
                ...ref(u),
                collection: o.collection,
                key: `k${o.key}`,
                value: { n: o.key },
              });
              if (o.collection === 'contacts' && !granted.has(u)) {
                const err = await expectCode(put, 'CONSENT_REQUIRED');
                expect(err.details).toEqual({ purpose: 'address-book-sync' });
              } else {
                await put;
              }
            } else {
              await node.deleteRecord({ ...ref(u), collection: o.collection, key: `k${o.key}` });
            }
            // The invariant, read from the region's file itself after every step.
            for (const who of users) {
              const gated = file
                .prepare(
                  "SELECT count(*) FROM records WHERE user_id = ? AND service = 'messaging' AND collection = 'contacts'",
                )
                .pluck()
                .get(who) as number;
              const key = file
                .prepare("SELECT count(*) FROM keys WHERE user_id = ? AND scope = 'messaging/contacts'")
                .pluck()
                .get(who) as number;
              if (!granted.has(who)) {
                expect(gated, `${who} holds contacts without a grant`).toBe(0);
              }
              const everGranted = ops.some((x) => x.kind === 'decide' && users[x.user] === who);
              if (!granted.has(who) && everGranted) expect(key, `${who}'s contacts key outlived a withdrawal`).toBe(0);
            }
          }
          // What a user may read back agrees: contacts only for those who grant.
          for (const u of users) {
            const listed = await node.listRecords({ ...ref(u), collection: 'contacts' });
            if (!granted.has(u)) expect(listed).toEqual([]);
          }
        } finally {
          file.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a grant against an outdated notice, an unknown purpose and a bad decision, and changes nothing', async () => {
    const policy = {
      ...testPolicy,
      purposes: [
        { id: 'address-book-sync', description: 'Upload the address book', notice: { id: 'abs', version: '2015-01' } },
      ],
    };
    node = await openRegionNode({ policy, regionId: 'sg-singapore', dataDir: dir.path, scrypt: fastScrypt });
    const ref = { userId: 'u-n', service: 'messaging', epoch: 1 };
    await node.openTenancy({ ...ref, market: 'SG' });
    const stale = await expectCode(
      node.recordConsent({
        ...ref,
        purpose: 'address-book-sync',
        decision: 'grant',
        noticeVersion: '2014-08',
        method: 'test',
        source: 't',
      }),
      'CONFLICT',
    );
    expect(stale.details).toMatchObject({ field: 'noticeVersion', notice: { version: '2015-01' } });
    await expectCode(
      node.recordConsent({ ...ref, purpose: 'marketing', decision: 'grant', method: 'test', source: 't' }),
      'BAD_REQUEST',
    );
    await expectCode(
      node.recordConsent({
        ...ref,
        purpose: 'address-book-sync',
        decision: 'maybe' as never,
        method: 'test',
        source: 't',
      }),
      'BAD_REQUEST',
    );
    expect(await node.readConsents(ref)).toEqual([{ purpose: 'address-book-sync', history: [] }]);
    const granted = await node.recordConsent({
      ...ref,
      purpose: 'address-book-sync',
      decision: 'grant',
      noticeVersion: '2015-01',
      method: 'in-app-dialog',
      source: 'session:s_1',
    });
    expect(granted.history).toEqual([
      expect.objectContaining({
        decision: 'grant',
        notice: expect.objectContaining({ id: 'abs', version: '2015-01' }),
        jurisdiction: expect.any(String),
        method: 'in-app-dialog',
        source: 'session:s_1',
      }),
    ]);
    await node.putRecord({ ...ref, collection: 'contacts', key: 'c1', value: 'ok' });
  });

  it('a write prepared under a grant that is withdrawn before it lands is refused, not stored', async () => {
    node = await openRegionNode({
      policy: testPolicy,
      regionId: 'sg-singapore',
      dataDir: dir.path,
      scrypt: fastScrypt,
    });
    const ref = { userId: 'u-race', service: 'messaging', epoch: 1 };
    await node.openTenancy({ ...ref, market: 'SG' });
    await node.recordConsent({ ...ref, purpose: 'address-book-sync', decision: 'grant', method: 'test', source: 't' });
    // Both start together: whichever order the region takes them in, no contact may remain.
    const results = await Promise.allSettled([
      node.putRecord({ ...ref, collection: 'contacts', key: 'c1', value: 'racing' }),
      node.recordConsent({ ...ref, purpose: 'address-book-sync', decision: 'withdraw', method: 'test', source: 't' }),
    ]);
    expect(results[1]!.status).toBe('fulfilled');
    if (results[0]!.status === 'rejected') expect(isDomicileError(results[0]!.reason, 'CONSENT_REQUIRED')).toBe(true);
    expect(await node.listRecords({ ...ref, collection: 'contacts' })).toEqual([]);
  });
});
