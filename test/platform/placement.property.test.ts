import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedRegions, isAllowed } from '../../src/policy/placement.js';
import { auth, grant, openTestPlatform, register, type TestPlatform } from '../support/test-platform.js';

const markets = ['CN', 'HK', 'IN', 'ID', 'MY', 'PH', 'SG', 'TW', 'US', 'BR', 'DE', 'KE'];
const writable: Array<[string, string]> = [
  ['shop', 'orders'],
  ['shop', 'cart'],
  ['account', 'identity'],
  ['messaging', 'messages'],
  ['cloud', 'contacts'],
];

type Op =
  | { kind: 'register'; market: string }
  | { kind: 'put'; user: number; target: number; key: number; value: string }
  | { kind: 'delete'; user: number; target: number; key: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('register' as const), market: fc.constantFrom(...markets) }),
  fc.record({
    kind: fc.constant('put' as const),
    user: fc.nat(),
    target: fc.nat(writable.length - 1),
    key: fc.nat(4),
    value: fc.string({ maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    user: fc.nat(),
    target: fc.nat(writable.length - 1),
    key: fc.nat(4),
  }),
);

describe.each(['phase1', 'phase3'])('placement under %s, as a property', (phase) => {
  let t: TestPlatform;
  let emails = 0;
  beforeAll(async () => {
    t = await openTestPlatform(phase);
  });
  afterAll(async () => t.close());

  it('never rests a record outside the regions its market × service allows', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const users: Array<{ userId: string; token: string; market: string }> = [];
        const model = new Map<string, string>(); // what each user's records should read back as
        for (const o of ops) {
          if (o.kind === 'register') {
            const r = await register(t.app, {
              email: `p${emails++}-${phase}@example.com`,
              password: 'property-password',
              market: o.market,
            });
            // cloud/contacts needs the cloud-backup purpose: granted, so the property covers a gated category too (cloud/photos is the photo routes' alone).
            await grant(t.app, r.token, 'cloud-backup');
            users.push({ userId: r.userId, token: r.token, market: o.market });
            continue;
          }
          const u = users[o.user % Math.max(users.length, 1)];
          if (!u) continue;
          const [service, collection] = writable[o.target]!;
          const url = `/v1/me/${service}/${collection}/k${o.key}`;
          const id = `${u.userId}/${url}`;
          if (o.kind === 'put') {
            const res = await t.app.inject({ method: 'PUT', url, headers: auth(u.token), payload: { v: o.value } });
            expect(res.statusCode).toBe(200);
            model.set(id, o.value);
          } else {
            const res = await t.app.inject({ method: 'DELETE', url, headers: auth(u.token) });
            expect(res.statusCode).toBe(model.has(id) ? 204 : 404);
            model.delete(id);
          }
        }
        // Every user's data rests only where the policy allows, and reads back as written.
        for (const u of users) {
          for (const [region, client] of t.platform.regions) {
            for (const holding of await client.describeUser({ userId: u.userId })) {
              const rests = holding.keys > 0 || holding.collections.some((c) => c.records > 0);
              if (rests) {
                expect(
                  isAllowed(t.platform.policy, u.market, holding.service, region),
                  `${u.market} ${holding.service} in ${region}, allowed ${allowedRegions(t.platform.policy, u.market, holding.service)}`,
                ).toBe(true);
              }
            }
          }
        }
        for (const [id, value] of model) {
          const u = users.find((x) => id.startsWith(`${x.userId}/`))!;
          const res = await t.app.inject({ method: 'GET', url: id.slice(u.userId.length + 1), headers: auth(u.token) });
          expect(res.json().value).toEqual({ v: value });
        }
        for (const [region, client] of t.platform.regions) {
          for (const stat of await client.placementStats()) {
            expect(isAllowed(t.platform.policy, stat.market, stat.service, region)).toBe(true);
          }
        }
      }),
      { numRuns: 15 },
    );
  });
});
