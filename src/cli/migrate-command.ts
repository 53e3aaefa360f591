import { DomicileError } from '../errors/domicile-error.js';
import type { MigrationStatus } from '../migrate/migration-status.js';
import type { MigrationState } from '../migrate/migration-types.js';
import { formatStatus } from './format-migration.js';
import { followMigration } from './migration-progress.js';
import { type MigrationAction, type OperatorAccess, type OperatorApi, openOperatorApi } from './operator-api.js';

export const migrateActions = ['start', 'status', 'pause', 'resume', 'rollback', 'complete', 'settings'] as const;
export type MigrateAction = (typeof migrateActions)[number];

export interface MigrateOptions {
  json: boolean;
  /** Follow the migration until it rests (the default on a terminal, and always when nothing runs). */
  wait: boolean;
  batchSize?: number | undefined;
  rate?: number | undefined;
  services?: string[] | undefined;
}

/** Where each action leaves the migration once it has done what it does on its own. */
const restsAt: Record<MigrateAction, readonly MigrationState[]> = {
  start: ['cut-over'],
  resume: ['cut-over', 'completed', 'rolled-back'],
  complete: ['completed'],
  rollback: ['rolled-back'],
  pause: ['paused'],
  status: [],
  settings: [],
};

async function act(api: OperatorApi, action: MigrateAction, options: MigrateOptions): Promise<MigrationStatus> {
  const settings =
    options.batchSize !== undefined || options.rate !== undefined
      ? { batchSize: options.batchSize, rate: options.rate }
      : undefined;
  if (action === 'start') return api.startMigration({ services: options.services, ...settings });
  if (options.services !== undefined)
    throw new DomicileError(
      'BAD_REQUEST',
      '--services is for `domicile migrate start`: a running migration keeps its services',
    );
  // Settings given with another action change the running migration first.
  const changed = settings ? await api.migrationSettings(settings) : undefined;
  if (action === 'settings') {
    if (!changed)
      throw new DomicileError(
        'BAD_REQUEST',
        '`domicile migrate settings` changes --batch-size or --rate: give one of them',
      );
    return changed;
  }
  if (action === 'status') return changed ?? api.migrationStatus();
  return api.steerMigration(action as MigrationAction);
}

/**
 * `domicile migrate start|status|pause|resume|rollback|complete|settings`: steers the running
 * platform's migration through its operator API (or, when nothing runs, runs it in this
 * process until it rests). A progress bar on a terminal; --json prints one JSON object, the
 * status at the end. Exit code 1 when the migration is failed.
 */
export async function runMigrate(
  access: OperatorAccess,
  action: MigrateAction,
  options: MigrateOptions,
): Promise<number> {
  const api = await openOperatorApi(access);
  try {
    let status = await act(api, action, options);
    const until = restsAt[action];
    const follow = until.length > 0 && (options.wait || api.inProcess);
    if (follow && !until.includes(status.state)) {
      status = await followMigration(api, until, { bar: !options.json && process.stderr.isTTY === true });
    }
    process.stdout.write(options.json ? `${JSON.stringify(status)}\n` : formatStatus(status));
    return status.state === 'failed' ? 1 : 0;
  } finally {
    await api.close();
  }
}
