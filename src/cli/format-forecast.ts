import type { Policy } from '../policy/policy-schema.js';
import { formatTable } from '../shared/format-table.js';
import { forecast, type Operation, operations } from '../wan/latency-forecast.js';
import type { Latency } from '../wan/latency-schema.js';
import { emulatedMarkets } from '../wan/load-latency.js';

export interface MarketForecast {
  market: string;
  /** Network time in ms under the policy moved from, and under the one moved to. */
  from: Record<Operation, number>;
  to: Record<Operation, number>;
}

/**
 * The latency forecast of a policy change: per market, the network time of each timed
 * operation (latency-forecast.ts) under both policies, from a latency file's round trips, with
 * static content from a CDN edge under both. Markets the file has no access figure for are left out.
 */
export function forecastChange(latency: Latency, from: Policy, to: Policy): MarketForecast[] {
  return emulatedMarkets(latency, to)
    .filter((m) => from.markets.some((x) => x.country === m))
    .map((market) => ({
      market,
      from: forecast(latency, from, market, { cdn: true }),
      to: forecast(latency, to, market, { cdn: true }),
    }));
}

export function formatForecast(rows: MarketForecast[], latency: Latency, file: string, notCovered: string[]): string {
  const cell = (f: MarketForecast, op: Operation): string => {
    const [a, b] = [f.from[op], f.to[op]];
    const change = a === b ? 'same' : `${b < a ? '−' : '+'}${Math.abs(Math.round((1 - b / a) * 100))}%`;
    return `${Math.round(a)} → ${Math.round(b)} ms (${change})`;
  };
  const table = formatTable(
    ['market', ...operations],
    rows.map((f) => [f.market, ...operations.map((op) => cell(f, op))]),
  );
  const left =
    notCovered.length > 0
      ? `\nNo forecast for ${notCovered.join(', ')}: ${file} has no access round trip for them.`
      : '';
  return `\nLatency forecast: network time alone, from the round trips of ${file} (${latency.name}); static content from a CDN edge under both policies.\n${table}${left}\n`;
}
