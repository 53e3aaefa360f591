import { type Operation, type Sizes, serviceOf } from '../src/wan/latency-forecast.js';
import type { Latency } from '../src/wan/latency-schema.js';
import type { OperationResult, PhaseMeasurement } from './latency-measurement.js';

/** One figure the 2014 articles give, as the bench checks it against `before`. */
interface Claim {
  text: string;
  phase: 'phase1' | 'phase2';
  markets: string[];
  operation: Operation;
  /**
   * speedup-at-least: before/after − 1 ≥ value; speedup-up-to and reduction-up-to (ms): within
   * half to one and a half times value (an "up to" figure is a best case, not a floor);
   * ratio-between: before/after within [low, high].
   */
  kind: 'speedup-at-least' | 'speedup-up-to' | 'reduction-up-to' | 'ratio-between';
  value: number | [number, number];
}

export const claims: Claim[] = [
  {
    text: 'phase 1: site speed up at least 30% in Singapore, Hong Kong and Taiwan',
    phase: 'phase1',
    markets: ['SG', 'HK', 'TW'],
    operation: 'store page',
    kind: 'speedup-at-least',
    value: 0.3,
  },
  {
    text: 'phase 1: site speed up to 200% in India',
    phase: 'phase1',
    markets: ['IN'],
    operation: 'store page',
    kind: 'speedup-up-to',
    value: 2,
  },
  {
    text: 'phase 2: network request latency in India down by up to 350 ms',
    phase: 'phase2',
    markets: ['IN'],
    operation: 'account request',
    kind: 'reduction-up-to',
    value: 350,
  },
  {
    text: 'phase 2: photo sync in Malaysia 2-3× faster',
    phase: 'phase2',
    markets: ['MY'],
    operation: 'photo sync',
    kind: 'ratio-between',
    value: [2, 3],
  },
];

export interface ClaimVerdict {
  claim: string;
  market: string;
  /** The measured change against before, in the claim's terms ("+412%", "−268 ms", "2.4×"). */
  measured: string;
  verdict: 'reproduced' | 'larger than claimed' | 'smaller than claimed' | 'not judged';
  /** From the data: what made the change, and why it differs from the claim when it does. */
  explanation: string;
}

const pct = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(Math.round(x * 100))}%`;

function judge(
  claim: Claim,
  b: OperationResult,
  a: OperationResult,
): { measured: string; verdict: ClaimVerdict['verdict'] } {
  const upTo = (got: number, claimed: number): ClaimVerdict['verdict'] =>
    got > claimed * 1.5 ? 'larger than claimed' : got < claimed * 0.5 ? 'smaller than claimed' : 'reproduced';
  switch (claim.kind) {
    case 'speedup-at-least': {
      const s = b.p50 / a.p50 - 1;
      return {
        measured: `speed ${pct(s)}`,
        verdict: s >= (claim.value as number) ? 'reproduced' : 'smaller than claimed',
      };
    }
    case 'speedup-up-to': {
      const s = b.p50 / a.p50 - 1;
      return { measured: `speed ${pct(s)}`, verdict: upTo(s, claim.value as number) };
    }
    case 'reduction-up-to': {
      const d = b.p50 - a.p50;
      return {
        measured: `${d >= 0 ? '−' : '+'}${Math.abs(Math.round(d))} ms`,
        verdict: upTo(d, claim.value as number),
      };
    }
    case 'ratio-between': {
      const r = b.p50 / a.p50;
      const [low, high] = claim.value as [number, number];
      return {
        measured: `${r.toFixed(1)}× faster`,
        verdict: r > high ? 'larger than claimed' : r < low ? 'smaller than claimed' : 'reproduced',
      };
    }
  }
}

/** The bytes an operation sends and receives: at the market's bandwidth they take a time no placement shortens. */
function bytesOf(op: Operation, sizes: Sizes): number {
  switch (op) {
    case 'store page':
      return sizes.pageBytes + sizes.assetBytes + sizes.catalogBytes + sizes.cartBytes;
    case 'account request':
      return sizes.accountBytes;
    case 'photo sync':
      return sizes.photoBytes;
  }
}

function explain(
  claim: Claim,
  market: string,
  before: PhaseMeasurement,
  after: PhaseMeasurement,
  latency: Latency,
  sizes: Sizes,
): string {
  const b = before.markets[market]![claim.operation];
  const a = after.markets[market]![claim.operation];
  const service = serviceOf[claim.operation];
  const parts = [
    `p50 ${Math.round(b.p50)} → ${Math.round(a.p50)} ms`,
    b.home === a.home
      ? `${service} stayed in ${a.home} (${a.rttMs} ms away)`
      : `${service} moved ${b.home} → ${a.home}: round trip ${Math.round(b.rttMs)} → ${Math.round(a.rttMs)} ms`,
  ];
  if (claim.operation === 'store page' && after.cdn && !before.cdn)
    parts.push(`static content came from the CDN edge (${latency.markets[market]?.access?.ms ?? '?'} ms) instead`);
  parts.push(
    `the model's network time ${Math.round(b.forecastMs)} → ${Math.round(a.forecastMs)} ms, server time about ${Math.max(0, Math.round(b.p50 - b.forecastMs))} → ${Math.max(0, Math.round(a.p50 - a.forecastMs))} ms`,
  );
  const mbps = latency.markets[market]?.bandwidth?.mbps;
  if (mbps !== undefined) {
    const floor = (bytesOf(claim.operation, sizes) * 8) / (mbps * 1000);
    if (floor >= 1)
      parts.push(
        `at ${mbps} Mbps its ${(bytesOf(claim.operation, sizes) / 1e6).toFixed(2)} MB alone take ${Math.round(floor)} ms wherever the data is`,
      );
  }
  return parts.join('; ');
}

export function evaluateClaims(results: PhaseMeasurement[], latency: Latency, sizes: Sizes): ClaimVerdict[] {
  const before = results.find((r) => r.phase === 'before');
  const out: ClaimVerdict[] = [];
  for (const claim of claims) {
    const after = results.find((r) => r.phase === claim.phase);
    for (const market of claim.markets) {
      const b = before?.markets[market]?.[claim.operation];
      const a = after?.markets[market]?.[claim.operation];
      if (!before || !after || !b || !a) {
        out.push({
          claim: claim.text,
          market,
          measured: '—',
          verdict: 'not judged',
          explanation: `${market} is not emulated: the latency file has no published access round trip for it`,
        });
        continue;
      }
      const { measured, verdict } = judge(claim, b, a);
      out.push({
        claim: claim.text,
        market,
        measured,
        verdict,
        explanation: explain(claim, market, before, after, latency, sizes),
      });
    }
  }
  return out;
}
