import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { loadLatencyFile, missingFigures, parseLatency } from '../../src/wan/load-latency.js';
import { betweenMs, ModelConnection, regionLink, send } from '../../src/wan/network-model.js';
import { examplesDir } from '../support/test-platform.js';
import { testLatency, testLatencyYaml } from './test-latency.js';

const problemsOf = (text: string): string[] => {
  const parsed = parseLatency(text, 'l.yaml');
  return parsed.ok ? [] : parsed.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
};

describe('the latency file', () => {
  it('parses a file that cites a source for every figure', () => {
    const latency = testLatency();
    expect(latency.markets.IN).toEqual({ city: 'Mumbai', access: { ms: 20, source: 'test' } });
    expect(regionLink(latency, 'IN', 'cn-beijing')).toEqual({ rttMs: 400, mbps: undefined });
    expect(regionLink(latency, 'IN', 'in-mumbai')).toEqual({ rttMs: 20, mbps: undefined });
    expect(betweenMs(latency, 'sg-singapore', 'in-mumbai')).toBe(80);
  });

  it('refuses, with the line, a figure citing no listed source, a pair given twice, and a figure out of range', () => {
    const base = testLatencyYaml();
    const unknown = base.replace(
      'IN: { city: Mumbai, access: { ms: 20, source: test } }',
      'IN: { city: Mumbai, access: { ms: 20, source: akamai } }',
    );
    expect(problemsOf(unknown)).toEqual([
      expect.stringMatching(/^\d+:\d+ markets\.IN\.access\.source: no source "akamai" in sources; use one of: test$/),
    ]);
    const twice = `${base}  - { cities: [Mumbai, Beijing], ms: 90, source: test }\n`;
    expect(problemsOf(twice)).toEqual([
      expect.stringMatching(
        /backbone\[\d+\]\.cities: cities Mumbai and Beijing have a figure already \(backbone\[\d+\]\); keep one/,
      ),
    ]);
    const negative = base.replace('IN: { city: Mumbai, access: { ms: 20', 'IN: { city: Mumbai, access: { ms: -4');
    expect(problemsOf(negative).join('\n')).toMatch(/markets\.IN\.access\.ms/);
    expect(problemsOf(base.replace('name: test-wan', 'name: test-wan\ncolour: blue')).join('\n')).toMatch(/colour/);
    expect(problemsOf('')).toEqual([expect.stringMatching(/the file is empty; a latency file is a mapping/)]);
  });

  it('says which figures a policy needs that the file lacks', async () => {
    const policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
    const latency = testLatency();
    delete latency.markets.BR;
    delete latency.regions['us-oregon'];
    latency.backbone = latency.backbone.filter((p) => !(p.cities.includes('Singapore') && p.cities.includes('Mumbai')));
    // Phase 3's live regions: São Paulo is still planned, so nothing is asked of it.
    expect(missingFigures(latency, policy)).toEqual([
      'region us-oregon (regions.us-oregon.city)',
      'Mumbai ↔ Singapore (backbone)',
      'market BR (markets.BR: its city and access round trip)',
    ]);
    expect(missingFigures(testLatency(), policy)).toEqual([]);
  });

  it('names a missing file and what to start from', async () => {
    await expect(loadLatencyFile('/nonexistent/latency.yaml')).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/no such latency file; check the path, or start from examples\/latency\.yaml/),
    });
  });
});

describe('the network model', () => {
  const model = { handshakeRoundTrips: 3, initialWindowBytes: 14_600 };

  it('counts slow start round trips as the window doubles from 10 segments, when bandwidth does not limit', () => {
    const link = { rttMs: 100, mbps: undefined };
    expect(send(0, 14_600, link)).toEqual({ rounds: 0, transferMs: 0, window: 14_600 });
    expect(send(14_600, 14_600, link).rounds).toBe(0);
    expect(send(14_601, 14_600, link).rounds).toBe(1);
    expect(send(3 * 14_600, 14_600, link).rounds).toBe(1);
    expect(send(3 * 14_600 + 1, 14_600, link).rounds).toBe(2);
    expect(send(524_288, 14_600, link)).toMatchObject({ rounds: 5, window: 14_600 * 32 });
  });

  it('sends at the bandwidth once the window fills the link, counting no byte twice', () => {
    // 8 Mbit/s is 1,000 bytes a ms; at 100 ms the link holds 100,000 bytes. Windows of 14,600 (with
    // the request), 29,200, 58,400 and 116,800 bytes send 219,000 in 3 more round trips; the other
    // 781,000 go at 1,000 bytes a ms.
    expect(send(1_000_000, 14_600, { rttMs: 100, mbps: 8 })).toEqual({ rounds: 3, transferMs: 781, window: 116_800 });
    // A window already as large as the link: only the bandwidth counts.
    expect(send(1_000_000, 200_000, { rttMs: 100, mbps: 8 })).toEqual({ rounds: 0, transferMs: 1000, window: 200_000 });
  });

  it('charges a connection its handshakes once, and keeps its grown windows for the next request', () => {
    const connection = new ModelConnection(model);
    const link = { rttMs: 100, mbps: undefined };
    expect(connection.exchange(link, 100, 1000)).toEqual({ ms: 400, roundTrips: 4, transferMs: 0 });
    expect(connection.exchange(link, 100, 1000)).toEqual({ ms: 100, roundTrips: 1, transferMs: 0 });
    // 512 KiB up: 5 more round trips the first time; the window it grew (32 × 14,600) carries the next one in 1.
    expect(connection.exchange(link, 524_288, 50).roundTrips).toBe(6);
    expect(connection.exchange(link, 524_288, 50).roundTrips).toBe(2);
  });
});
