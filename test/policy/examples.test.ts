import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { allowedRegions, homeRegion } from '../../src/policy/placement.js';
import type { Policy } from '../../src/policy/policy-schema.js';

const phases = ['before', 'phase1', 'phase2', 'phase3'] as const;
type Phase = (typeof phases)[number];

async function load(phase: Phase): Promise<Policy> {
  return loadPolicyFile(new URL(`../../examples/${phase}.yaml`, import.meta.url).pathname);
}

const policies = Object.fromEntries(await Promise.all(phases.map(async (p) => [p, await load(p)] as const))) as Record<
  Phase,
  Policy
>;

const international = ['HK', 'IN', 'ID', 'MY', 'PH', 'SG', 'TW'];
const services = ['account', 'messaging', 'cloud', 'shop'];
const markets = ['CN', ...international, 'US', 'BR'];

/** home of every market × service in a phase, as "IN/shop" → region, to compare whole tables. */
function homes(policy: Policy): Record<string, string> {
  return Object.fromEntries(markets.flatMap((m) => services.map((s) => [`${m}/${s}`, homeRegion(policy, m, s)])));
}

describe('the 2014 scenario examples', () => {
  it('load with their names and versions 1..4, in order', () => {
    expect(phases.map((p) => [policies[p].name, policies[p].version])).toEqual([
      ['before', 1],
      ['phase1', 2],
      ['phase2', 3],
      ['phase3', 4],
    ]);
  });

  it('start with the schema line that lets editors complete and check them', async () => {
    for (const phase of phases) {
      const text = await readFile(new URL(`../../examples/${phase}.yaml`, import.meta.url), 'utf8');
      expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/policy.schema.json');
    }
  });

  it('declare the same regions, markets, purposes and services in every phase', () => {
    for (const phase of phases) {
      const p = policies[phase];
      expect(p.regions.map((r) => r.id)).toEqual([
        'cn-beijing',
        'us-california',
        'us-oregon',
        'sg-singapore',
        'in-mumbai',
        'br-saopaulo',
      ]);
      expect(p.markets.map((m) => m.country)).toEqual(markets);
      expect(p.purposes.map((x) => x.id)).toEqual(['contact-discovery', 'cloud-backup']);
      expect(
        p.services.map((s) => [s.id, s.categories.map((c) => (c.consent ? `${c.id}(${c.consent})` : c.id))]),
      ).toEqual([
        ['account', ['identity', 'device']],
        ['messaging', ['messages', 'address-book(contact-discovery)']],
        ['cloud', ['contacts(cloud-backup)', 'photos(cloud-backup)']],
        ['shop', ['cart', 'orders', 'addresses']],
      ]);
      expect(p.placement.some((r) => r.markets.includes('*'))).toBe(true);
      // Defaults the loader fills in: the embedded store and keyring.
      expect(p.regions[0]?.store).toEqual({ kind: 'sqlite' });
      expect(p.regions[0]?.keys).toEqual({ kind: 'keyring' });
    }
  });

  it('activate regions phase by phase; Brazil stays planned throughout', () => {
    const active = (phase: Phase) => policies[phase].regions.filter((r) => r.status === 'active').map((r) => r.id);
    expect(active('before')).toEqual(['cn-beijing']);
    expect(active('phase1')).toEqual(['cn-beijing', 'us-california', 'sg-singapore']);
    expect(active('phase2')).toEqual(['cn-beijing', 'us-california', 'us-oregon', 'sg-singapore']);
    expect(active('phase3')).toEqual(['cn-beijing', 'us-california', 'us-oregon', 'sg-singapore', 'in-mumbai']);
    for (const phase of phases)
      expect(policies[phase].regions.find((r) => r.id === 'br-saopaulo')?.status).toBe('planned');
  });

  it('before: every market and service homes in Beijing', () => {
    expect(new Set(Object.values(homes(policies.before)))).toEqual(new Set(['cn-beijing']));
    expect(homeRegion(policies.before, 'KR', 'cloud')).toBe('cn-beijing');
  });

  it('phase 1: the international shop moves to Singapore (US: California); the rest stays', () => {
    const p = policies.phase1;
    for (const m of international) {
      expect(allowedRegions(p, m, 'shop')).toEqual(['sg-singapore', 'us-california']);
      expect(homeRegion(p, m, 'shop')).toBe('sg-singapore');
      for (const s of ['account', 'messaging', 'cloud']) expect(homeRegion(p, m, s)).toBe('cn-beijing');
    }
    expect(allowedRegions(p, 'US', 'shop')).toEqual(['us-california']);
    expect(homeRegion(p, 'US', 'account')).toBe('cn-beijing');
    expect(homeRegion(p, 'BR', 'shop')).toBe('cn-beijing');
  });

  it('phase 2: account, messaging and cloud follow to Singapore and Oregon (US: Oregon)', () => {
    const p = policies.phase2;
    for (const m of international) {
      expect(homeRegion(p, m, 'shop')).toBe('sg-singapore');
      for (const s of ['account', 'messaging', 'cloud']) {
        expect(allowedRegions(p, m, s)).toEqual(['sg-singapore', 'us-oregon']);
        expect(homeRegion(p, m, s)).toBe('sg-singapore');
      }
    }
    expect(allowedRegions(p, 'US', 'shop')).toEqual(['us-california']);
    for (const s of ['account', 'messaging', 'cloud']) expect(allowedRegions(p, 'US', s)).toEqual(['us-oregon']);
    // Only Chinese users' data is left in Beijing.
    const beijing = Object.entries(homes(p))
      .filter(([, r]) => r === 'cn-beijing')
      .map(([k]) => k);
    expect(beijing).toEqual(services.map((s) => `CN/${s}`));
    expect(homeRegion(p, 'KR', 'account')).toBe('sg-singapore');
  });

  it('phase 3: India homes in Mumbai alone; Brazil homes in the US until São Paulo is active', () => {
    const p = policies.phase3;
    for (const s of services) {
      expect(allowedRegions(p, 'IN', s)).toEqual(['in-mumbai']);
      expect(homeRegion(p, 'IN', s)).toBe('in-mumbai');
    }
    expect(allowedRegions(p, 'BR', 'shop')).toEqual(['br-saopaulo', 'us-california']);
    expect(homeRegion(p, 'BR', 'shop')).toBe('us-california');
    for (const s of ['account', 'messaging', 'cloud']) {
      expect(allowedRegions(p, 'BR', s)).toEqual(['br-saopaulo', 'us-oregon']);
      expect(homeRegion(p, 'BR', s)).toBe('us-oregon');
    }
    expect(homeRegion(p, 'MY', 'cloud')).toBe('sg-singapore');
    expect(homeRegion(p, 'US', 'shop')).toBe('us-california');
  });

  it('the India shop walks Beijing → Singapore → Singapore → Mumbai', () => {
    expect(phases.map((phase) => homeRegion(policies[phase], 'IN', 'shop'))).toEqual([
      'cn-beijing',
      'sg-singapore',
      'sg-singapore',
      'in-mumbai',
    ]);
  });

  it('China is placed in Beijing alone in every phase', () => {
    for (const phase of phases)
      for (const s of services) expect(allowedRegions(policies[phase], 'CN', s)).toEqual(['cn-beijing']);
  });

  it('activating São Paulo moves Brazil there with no rule edited', () => {
    const p = policies.phase3;
    const activated: Policy = {
      ...p,
      regions: p.regions.map((r) => (r.id === 'br-saopaulo' ? { ...r, status: 'active' as const } : r)),
    };
    for (const s of services) expect(homeRegion(activated, 'BR', s)).toBe('br-saopaulo');
  });
});
