import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomicileError } from '../../src/errors/domicile-error.js';
import {
  checkPlanRegions,
  type MigrationPlan,
  planMigration,
  resolveServiceOrder,
} from '../../src/migrate/plan-migration.js';
import { expectCode } from '../region/fixtures.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { openPhase, type PhasePlatform, scenarioPolicy } from './support/phase-platform.js';
import { RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

describe('resolveServiceOrder', () => {
  it('moves e-commerce first by default, as the articles did', async () => {
    expect(resolveServiceOrder(await scenarioPolicy('phase1'))).toEqual(['shop', 'account', 'messaging', 'cloud']);
  });

  it('takes the order given, and names what is wrong with it', async () => {
    const policy = await scenarioPolicy('phase1');
    expect(resolveServiceOrder(policy, ['cloud', 'shop'])).toEqual(['cloud', 'shop']);
    expect(() => resolveServiceOrder(policy, ['shop', 'photos'])).toThrow(
      /"photos", which policy "phase1" does not declare; use some of: account, messaging, cloud, shop/,
    );
    expect(() => resolveServiceOrder(policy, ['shop', 'shop'])).toThrow(/names "shop" twice/);
  });
});

describe('planMigration', () => {
  const data = tempDir('migrate-plan');
  let p: PhasePlatform;
  beforeAll(async () => {
    p = await openPhase(data.path, 'before');
    const send = injectSender(() => p.app);
    const users = await registerUsers(send, ['CN', 'IN', 'US', 'BR'], 2, 'plan');
    await new RandomWriter(send, users, new WriteModel()).seed(3);
  });
  afterAll(async () => {
    await p.close();
    data.remove();
  });

  it('plans from the directory to the policy in force: per service and market, users, records, bytes, in service order', async () => {
    const plan = await planMigration({
      directory: p.platform.directory,
      regions: p.platform.regions,
      policy: await scenarioPolicy('phase2'),
    });
    expect(plan.policy).toEqual({ name: 'phase2', version: 3 });
    expect(plan.fromPolicy).toBeNull();
    expect(plan.groups.map((g) => g.service)).toEqual(
      [...plan.groups.map((g) => g.service)].sort((a, b) => plan.services.indexOf(a) - plan.services.indexOf(b)),
    );
    expect(plan.groups.find((g) => g.service === 'shop' && g.market === 'IN')).toMatchObject({
      from: 'cn-beijing',
      to: 'sg-singapore',
      users: 2,
    });
    expect(plan.groups.find((g) => g.service === 'account' && g.market === 'US')).toMatchObject({
      from: 'cn-beijing',
      to: 'us-oregon',
      users: 2,
    });
    expect(plan.groups.some((g) => g.market === 'CN')).toBe(false);
    const inShop = plan.groups.find((g) => g.service === 'shop' && g.market === 'IN')!;
    expect(inShop.records).toBeGreaterThan(0);
    expect(inShop.bytes).toBeGreaterThan(inShop.records);
    expect(plan.totals.users).toBe(plan.groups.reduce((n, g) => n + g.users, 0));
  });

  it('plans the difference of two policies: phase 2 → phase 3 moves India to Mumbai and Brazil to the US, never to the planned São Paulo', async () => {
    const plan = await planMigration({
      directory: p.platform.directory,
      regions: p.platform.regions,
      from: await scenarioPolicy('phase2'),
      policy: await scenarioPolicy('phase3'),
    });
    expect(plan.fromPolicy).toEqual({ name: 'phase2', version: 3 });
    const routes = plan.groups.map((g) => `${g.service} ${g.market} ${g.from}→${g.to}`);
    expect(routes).toEqual([
      'shop BR sg-singapore→us-california',
      'shop IN sg-singapore→in-mumbai',
      'account BR sg-singapore→us-oregon',
      'account IN sg-singapore→in-mumbai',
      'messaging BR sg-singapore→us-oregon',
      'messaging IN sg-singapore→in-mumbai',
      'cloud BR sg-singapore→us-oregon',
      'cloud IN sg-singapore→in-mumbai',
    ]);
    // The directory homes these users in Beijing (under `before`), not where phase 2 would: none counted.
    expect(plan.totals.users).toBe(0);
  });

  it('refuses a market the target policy cannot place', async () => {
    const policy = await scenarioPolicy('phase1');
    const noDefault = { ...policy, placement: policy.placement.filter((r) => !r.markets.includes('*')) };
    const err = await expectCode(
      planMigration({ directory: p.platform.directory, regions: p.platform.regions, policy: noDefault }),
      'FORBIDDEN',
    );
    expect(err.message).toMatch(/cannot plan: policy "phase1" places no data of market/);
  });
});

describe('checkPlanRegions', () => {
  const group = {
    service: 'shop',
    market: 'BR',
    from: 'us-california',
    to: 'br-saopaulo',
    users: 3,
    records: 9,
    bytes: 900,
  };
  const plan: MigrationPlan = {
    policy: { name: 'x', version: 1 },
    fromPolicy: null,
    services: ['shop'],
    groups: [group],
    totals: { users: 3, records: 9, bytes: 900 },
  };

  it('refuses to place data in a planned region', async () => {
    const policy = await scenarioPolicy('phase3');
    expect(() => checkPlanRegions(plan, policy)).toThrow(
      /to br-saopaulo, which policy "phase3" declares planned: a planned region receives no data; make it active first/,
    );
  });

  it('refuses an unknown region, and regions that do not run here', async () => {
    const policy = await scenarioPolicy('phase3');
    expect(() => checkPlanRegions({ ...plan, groups: [{ ...group, to: 'eu-frankfurt' }] }, policy)).toThrow(
      /a region policy "phase3" does not declare/,
    );
    const active = {
      ...policy,
      regions: policy.regions.map((r) => (r.id === 'br-saopaulo' ? { ...r, status: 'active' as const } : r)),
    };
    expect(() => checkPlanRegions(plan, active)).not.toThrow();
    try {
      checkPlanRegions(plan, active, new Set(['us-california']));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DomicileError);
      expect((err as DomicileError).code).toBe('UNAVAILABLE');
      expect((err as Error).message).toMatch(/br-saopaulo, which does not run in this platform/);
    }
  });
});
