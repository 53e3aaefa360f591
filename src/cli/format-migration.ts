import type { MigrationStatus } from '../migrate/migration-status.js';
import type { MigrationPlan } from '../migrate/plan-migration.js';
import { formatTable } from '../shared/format-table.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '-';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.ceil(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatPlan(plan: MigrationPlan): string {
  const basis = plan.fromPolicy
    ? `from policy "${plan.fromPolicy.name}" (version ${plan.fromPolicy.version}) to "${plan.policy.name}" (version ${plan.policy.version})`
    : `from where the directory homes users now to policy "${plan.policy.name}" (version ${plan.policy.version})`;
  if (plan.groups.length === 0) return `Plan ${basis}: nothing moves.\n`;
  const table = formatTable(
    ['service', 'market', 'from', 'to', 'users', 'records', 'bytes'],
    plan.groups.map((g) => [g.service, g.market, g.from, g.to, g.users, g.records, formatBytes(g.bytes)]),
  );
  const order = plan.services.filter((s) => plan.groups.some((g) => g.service === s));
  const { users, records, bytes } = plan.totals;
  return `Plan ${basis}\n\n${table}\n\n${users} user-services, about ${records} records (${formatBytes(bytes)}) move, service by service: ${order.join(' → ')}.\n`;
}

export function formatStatus(s: MigrationStatus): string {
  const steps = Object.entries(s.batches.byStep)
    .map(([step, n]) => `${n} ${step}`)
    .join(', ');
  const lines = [
    `Migration ${s.id}: ${s.state}${s.resumeState ? ` (resumes as ${s.resumeState})` : ''}, to policy "${s.policy.name}" (version ${s.policy.version}); services ${s.services.join(' → ')}`,
    `  users      ${s.users.cutOver}/${s.users.total} cut over, ${s.users.copied} copied, ${s.users.completed} completed${s.users.rolledBack ? `, ${s.users.rolledBack} rolled back` : ''}`,
    `  batches    ${s.batches.total}${steps ? `: ${steps}` : ''}`,
    `  moved      ${s.moved.rows} rows, ${formatBytes(s.moved.bytes)} (planned about ${s.planned.records} rows, ${formatBytes(s.planned.bytes)})`,
    `  rate       ${Math.round(s.rate.rowsPerSecond)} rows/s, ${formatBytes(Math.round(s.rate.bytesPerSecond))}/s, ${s.rate.usersPerSecond.toFixed(1)} users/s; ETA ${formatDuration(s.etaSeconds)}`,
    `  lag        ${s.lag.catchUp} change(s) in catch-up, ${s.lag.reverse} in reverse replication`,
    `  pauses     ${s.pauses ? `p50 ${s.pauses.p50Ms.toFixed(1)} ms, p99 ${s.pauses.p99Ms.toFixed(1)} ms, max ${s.pauses.maxMs.toFixed(1)} ms over ${s.pauses.count} cut-over(s)` : '-'}`,
    `  settings   batch size ${s.settings.batchSize} users, rate cap ${s.settings.rate === 0 ? 'none' : `${s.settings.rate} rows/s`}`,
    `  transfers  ${s.transfers} recorded`,
  ];
  if (s.error) lines.push(`  error      ${s.error}`);
  for (const m of s.mismatches.slice(0, 10))
    lines.push(`  mismatch   ${m.userId} ${m.collection}/${m.key}: ${m.problem}`);
  for (const w of s.warnings) lines.push(`  warning    ${w}`);
  lines.push(`Next: ${s.next}`);
  return `${lines.join('\n')}\n`;
}
