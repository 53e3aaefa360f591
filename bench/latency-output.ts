import { formatTable } from '../src/shared/format-table.js';
import { operations } from '../src/wan/latency-forecast.js';
import type { LatencyReport } from './latency-bench.js';

const ms = (x: number): string => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

/** Per operation, a table of markets × phases: p50 / p95 and the p50's change against before; then the claims. */
export function formatLatencyReport(report: LatencyReport, title: string): string {
  const out = [title, ''];
  const before = report.phases.find((p) => p.phase === 'before');
  for (const op of operations) {
    const headers = ['market', ...report.phases.map((p) => `${p.phase}${p.cdn ? '' : ' (no CDN)'} p50 / p95`)];
    const rows = report.markets.map((market) => [
      market,
      ...report.phases.map((p) => {
        const r = p.markets[market]?.[op];
        const b = before?.markets[market]?.[op];
        if (!r) return '—';
        const change =
          b && p.phase !== 'before'
            ? ` (${r.p50 <= b.p50 ? '−' : '+'}${Math.abs(Math.round((1 - r.p50 / b.p50) * 100))}%)`
            : '';
        return `${ms(r.p50)} / ${ms(r.p95)}${change}`;
      }),
    ]);
    const homes = report.phases
      .map((p) => `${p.phase}: ${[...new Set(report.markets.map((m) => p.markets[m]?.[op]?.home))].join(', ')}`)
      .join('; ');
    out.push(`${op} (homes: ${homes})`, formatTable(headers, rows), '');
  }
  const first = report.phases[0]?.markets[report.markets[0] ?? ''];
  if (first)
    out.push(
      `samples per market and phase: ${operations.map((op) => `${op} ${first[op].samples}`).join(', ')} (a p95 of fewer than 20 samples is the slowest of them)`,
    );
  if (report.notEmulated.length > 0)
    out.push(`not emulated (no published access round trip): ${report.notEmulated.join(', ')}`, '');
  out.push(
    'the articles\' claims, against before ("up to" figures count as reproduced within half to one and a half times the figure):',
  );
  for (const c of report.claims) {
    out.push(`  ${c.verdict.toUpperCase()}  ${c.claim}: ${c.market} ${c.measured}`, `      ${c.explanation}`);
  }
  for (const p of report.phases)
    if (p.migration)
      out.push(
        `${p.phase}: migration of ${p.migration.rows} rows took ${p.migration.seconds.toFixed(1)} s before measuring`,
      );
  return `${out.join('\n')}\n`;
}
