import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import type { MigrationStatus } from '../migrate/migration-status.js';
import type { MigrationState } from '../migrate/migration-types.js';
import { formatBytes, formatDuration } from './format-migration.js';
import type { OperatorApi } from './operator-api.js';

/** How far the migration is in what it does now: moving, completing, or rolling back. */
function progressOf(s: MigrationStatus): { done: number; total: number } {
  if (s.state === 'completing' || s.state === 'completed')
    return { done: s.users.completed, total: s.users.cutOver + s.users.completed };
  if (s.state === 'rolling-back' || s.state === 'rolled-back')
    return { done: s.users.rolledBack, total: s.users.total };
  return { done: s.users.cutOver, total: s.users.total };
}

function payload(s: MigrationStatus): Record<string, string | number> {
  return {
    state: s.state.padEnd(12),
    rows: s.moved.rows,
    moved: formatBytes(s.moved.bytes),
    rate: Math.round(s.rate.rowsPerSecond),
    etaText: formatDuration(s.etaSeconds),
    lag: s.lag.catchUp + s.lag.reverse,
  };
}

/**
 * Follows a migration until it reaches one of `until` (or rests: paused, interrupted, failed),
 * with a progress bar on stderr when it is a terminal: users, rows, bytes, rate, ETA, lag.
 */
export async function followMigration(
  api: OperatorApi,
  until: readonly MigrationState[],
  options: { bar: boolean; intervalMs?: number },
): Promise<MigrationStatus> {
  const resting: readonly MigrationState[] = [...until, 'paused', 'interrupted', 'failed', 'completed', 'rolled-back'];
  // In process too: the engine runs in this event loop, and yields to it between users.
  let status = await api.migrationStatus();
  const bar = options.bar
    ? new cliProgress.SingleBar(
        {
          format:
            '{state} |{bar}| {value}/{total} users | {rows} rows | {moved} | {rate} rows/s | ETA {etaText} | lag {lag}',
          hideCursor: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const first = progressOf(status);
  bar?.start(Math.max(1, first.total), first.done, payload(status));
  try {
    while (!resting.includes(status.state)) {
      await sleep(options.intervalMs ?? 250);
      status = await api.migrationStatus();
      const p = progressOf(status);
      bar?.setTotal(Math.max(1, p.total));
      bar?.update(p.done, payload(status));
    }
  } finally {
    bar?.stop();
  }
  return status;
}
