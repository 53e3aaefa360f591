import { describe, expect, it } from 'vitest';
import { checkPolicy } from '../../src/policy/check-policy.js';
import { parsePolicy } from '../../src/policy/load-policy.js';
import type { Policy } from '../../src/policy/policy-schema.js';
import { miniPolicy, withLines } from './fixtures/mini-policy.js';
import { problemsOf } from './fixtures/problems-of.js';

// The mini policy's placement, for reading the cases below:
//   22 placement:
//   23   - markets: [CN]        services: ["*"]   regions: [cn-beijing]     (lines 23-25)
//   26   - markets: ["*"]       services: ["*"]   regions: [sg-singapore]   (lines 26-28)

describe('duplicate declarations', () => {
  it('a duplicate region id', () => {
    expect(problemsOf(withLines({ 8: '  - id: sg-singapore' }))).toEqual([
      'mini.yaml:8:9 regions[1].id: duplicate region "sg-singapore" (first at line 4); declare each region once',
      // cn-beijing is gone now, so the rule that names it names an unknown region.
      'mini.yaml:25:15 placement[0].regions[0]: unknown region "cn-beijing"; write one of: sg-singapore',
    ]);
  });

  it('a duplicate market', () => {
    expect(problemsOf(withLines({ 14: '  - { country: CN, jurisdiction: SG-PDPA-2012 }' }))).toEqual([
      'mini.yaml:14:16 markets[1].country: duplicate market "CN" (first at line 13); declare each market once',
    ]);
  });

  it('a duplicate purpose', () => {
    expect(
      problemsOf(
        withLines({
          16: '  - { id: cloud-backup, description: Keep a copy }\n  - { id: cloud-backup, description: Again }',
        }),
      ),
    ).toEqual([
      'mini.yaml:17:11 purposes[1].id: duplicate purpose "cloud-backup" (first at line 16); declare each purpose once',
    ]);
  });

  it('a duplicate service', () => {
    expect(problemsOf(withLines({ 20: '  - id: shop' }))).toEqual([
      'mini.yaml:20:9 services[1].id: duplicate service "shop" (first at line 18); declare each service once',
    ]);
  });

  it('a duplicate category within a service (the same id in two services is fine)', () => {
    expect(problemsOf(withLines({ 19: '    categories: [{ id: orders }, { id: orders }]' }))).toEqual([
      'mini.yaml:19:40 services[0].categories[1].id: duplicate category "orders" in service shop (first at line 19); declare each category once',
    ]);
    expect(problemsOf(withLines({ 19: '    categories: [{ id: photos }]' }))).toEqual([]);
  });
});

describe('country codes', () => {
  it('a market that is not an assigned ISO 3166-1 code', () => {
    expect(
      problemsOf(withLines({ 14: '  - { country: XX, jurisdiction: SG-PDPA-2012 }', 23: '  - markets: [CN, XX]' })),
    ).toEqual([
      'mini.yaml:14:16 markets[1].country: "XX" is not an assigned ISO 3166-1 alpha-2 country code; write an assigned code, for example IN, SG or US',
    ]);
  });

  it('a reserved code people mistake for one, with the one they mean', () => {
    expect(problemsOf(withLines({ 14: '  - { country: UK, jurisdiction: UK-GDPR }' }))).toEqual([
      'mini.yaml:14:16 markets[1].country: "UK" is not an assigned ISO 3166-1 alpha-2 country code; write GB instead',
    ]);
  });

  it('a region location', () => {
    expect(
      problemsOf(withLines({ 10: '    location: { city: Athens, country: EL, lat: 37.98, lon: 23.73 }' })),
    ).toEqual([
      'mini.yaml:10:40 regions[1].location.country: "EL" is not an assigned ISO 3166-1 alpha-2 country code; write GR instead',
    ]);
  });
});

describe('references', () => {
  it('a rule that names an unknown region', () => {
    expect(problemsOf(withLines({ 28: '    regions: [sg-singapor]' }))).toEqual([
      'mini.yaml:28:15 placement[1].regions[0]: unknown region "sg-singapor"; write one of: sg-singapore, cn-beijing',
    ]);
  });

  it('a rule that names an unknown service', () => {
    expect(problemsOf(withLines({ 24: '    services: [shopp]' }))).toEqual([
      'mini.yaml:24:16 placement[0].services[0]: unknown service "shopp"; write one of: shop, cloud, "*"',
    ]);
  });

  it('a rule that names a market not declared in markets', () => {
    expect(problemsOf(withLines({ 23: '  - markets: [CN, KR]' }))).toEqual([
      'mini.yaml:23:19 placement[0].markets[1]: market "KR" is not declared; add it under markets (country, jurisdiction), or write one of: CN, SG, "*"',
    ]);
  });

  it('a category whose consent names an undeclared purpose', () => {
    expect(problemsOf(withLines({ 21: '    categories: [{ id: photos, consent: backup }]' }))).toEqual([
      'mini.yaml:21:41 services[1].categories[0].consent: unknown purpose "backup"; write one of: cloud-backup',
    ]);
    expect(problemsOf(withLines({ 15: '', 16: '' }))).toEqual([
      'mini.yaml:21:41 services[1].categories[0].consent: unknown purpose "cloud-backup"; declare it under purposes (id, description)',
    ]);
  });

  it('a name listed twice in one rule', () => {
    expect(problemsOf(withLines({ 28: '    regions: [sg-singapore, cn-beijing, sg-singapore]' }))).toEqual([
      'mini.yaml:28:41 placement[1].regions[2]: "sg-singapore" is listed twice in this rule; remove one',
    ]);
  });

  it('two regions on one store file', () => {
    expect(
      problemsOf(
        withLines({
          7: '    status: active\n    store: { kind: sqlite, path: data/one.db }',
          11: '    status: active\n    store: { kind: sqlite, path: data/one.db }',
        }),
      ),
    ).toEqual([
      'mini.yaml:13:12 regions[1].store: region cn-beijing uses the same store as region sg-singapore (line 8); give every region a store of its own',
    ]);
  });
});

describe('placement', () => {
  it('two rules that place the same market × service at the same specificity are ambiguous', () => {
    expect(
      problemsOf(
        withLines({
          28: '    regions: [sg-singapore]\n  - markets: [SG, CN]\n    services: [shop, "*"]\n    regions: [cn-beijing]',
        }),
      ),
    ).toEqual([
      'mini.yaml:29:5 placement[2]: ambiguous: the rule at line 23 also places CN × *; name each market × service pair in one rule only',
    ]);
  });

  it('two default rules are ambiguous too', () => {
    expect(
      problemsOf(
        withLines({
          28: '    regions: [sg-singapore]\n  - markets: ["*"]\n    services: ["*"]\n    regions: [cn-beijing]',
        }),
      ),
    ).toEqual([
      'mini.yaml:29:5 placement[2]: ambiguous: the rule at line 26 also places * × *; name each market × service pair in one rule only',
    ]);
  });

  it('rules at different specificities are not ambiguous: the most specific wins', () => {
    const text = withLines({
      28: '    regions: [sg-singapore]\n  - markets: [SG]\n    services: [shop]\n    regions: [cn-beijing]',
    });
    expect(problemsOf(text)).toEqual([]);
  });

  it('a market whose allowed regions are all inactive is an error at the rule, never a fallback', () => {
    expect(problemsOf(withLines({ 7: '    status: planned' }))).toEqual([
      'mini.yaml:26:5 placement[1]: no active region for SG, unlisted markets × shop, cloud: this rule allows only sg-singapore (planned); make one of them active, or add an active region to this rule',
    ]);
  });

  it('a draining region is not active either; only the rules that resolve something are judged', () => {
    const text = withLines({
      7: '    status: draining',
      26: '  - markets: [SG]\n    services: [shop]\n    regions: [cn-beijing, sg-singapore]\n  - markets: ["*"]',
    });
    expect(problemsOf(text)).toEqual([
      'mini.yaml:29:5 placement[2]: no active region for SG × cloud and unlisted markets × shop, cloud: this rule allows only sg-singapore (draining); make one of them active, or add an active region to this rule',
    ]);
  });

  it('an inactive region ahead of an active one is fine: the home is the first active one', () => {
    expect(problemsOf(withLines({ 7: '    status: planned', 28: '    regions: [sg-singapore, cn-beijing]' }))).toEqual(
      [],
    );
  });

  it('a declared market that no rule places for some service', () => {
    expect(problemsOf(withLines({ 27: '    services: [shop]' }))).toEqual([
      'mini.yaml:14:5 markets[1]: no placement rule places market SG for service cloud; add SG to a rule for it, or add a default rule with markets: ["*"]',
    ]);
    expect(problemsOf(withLines({ 26: '  - markets: [CN]', 27: '    services: [shop]' }))).toEqual([
      // The second rule now places CN × shop, as the first does at a lower specificity.
      'mini.yaml:14:5 markets[1]: no placement rule places market SG for services shop, cloud; add SG to a rule for them, or add a default rule with markets: ["*"]',
    ]);
  });

  it('problems of every kind at once, in file order', () => {
    const text = withLines({
      7: '    status: planned',
      14: '  - { country: UK, jurisdiction: UK-GDPR }',
      24: '    services: [shopp]',
    });
    expect(problemsOf(text)).toEqual([
      'mini.yaml:14:16 markets[1].country: "UK" is not an assigned ISO 3166-1 alpha-2 country code; write GB instead',
      'mini.yaml:24:16 placement[0].services[0]: unknown service "shopp"; write one of: shop, cloud, "*"',
      // The CN rule places no known service now, so CN falls to the default rule too.
      'mini.yaml:26:5 placement[1]: no active region for CN, UK, unlisted markets × shop, cloud: this rule allows only sg-singapore (planned); make one of them active, or add an active region to this rule',
    ]);
  });
});

describe('checkPolicy on a policy built in code', () => {
  it('refers to other places by path', () => {
    const parsed = parsePolicy(miniPolicy, 'mini.yaml');
    if (!parsed.ok) throw new Error('the mini policy is valid');
    const policy: Policy = {
      ...parsed.policy,
      regions: [
        ...parsed.policy.regions,
        { ...parsed.policy.regions[0]!, location: { ...parsed.policy.regions[0]!.location } },
      ],
    };
    expect(checkPolicy(policy)).toEqual([
      {
        path: ['regions', 2, 'id'],
        message: 'duplicate region "sg-singapore" (first at regions[0].id); declare each region once',
      },
    ]);
  });
});
