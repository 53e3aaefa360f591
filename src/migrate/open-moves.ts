import { existsSync } from 'node:fs';
import type { CoordinatorStore } from './coordinator-store.js';
import { coordinatorFile } from './migration-engine.js';
import { type BatchStep, finalStates } from './migration-types.js';
import { PostgresCoordinatorStore } from './postgres-coordinator-store.js';
import { SqliteCoordinatorStore } from './sqlite-coordinator-store.js';

/**
 * Users of one market whom an unfinished migration has cut over from `source` to `destination`
 * but not yet purged from the source: their source rows, tenancy 'moved', are the operator's
 * roll-back window (DESIGN invariant 1 allows the source during a move), not residue.
 */
export interface OpenMove {
  migrationId: string;
  service: string;
  source: string;
  destination: string;
  market: string;
  users: number;
}

/** Steps in which a batch's users are served by the destination while the source still holds them. */
const inMoveSteps: readonly BatchStep[] = ['cut-over', 'completing', 'rolling-back'];

/** The open moves of the latest migration, if it is not finished (completed or rolled back). */
export async function openMoves(store: CoordinatorStore): Promise<OpenMove[]> {
  const migration = await store.latest();
  if (!migration || finalStates.includes(migration.state)) return [];
  const moves = new Map<string, OpenMove>();
  for (const batch of await store.batches(migration.id, [...inMoveSteps, 'failed'])) {
    // A batch that failed while completing or rolling back was cut over; one that failed before was not.
    if (batch.step === 'failed' && !(batch.failedStep !== null && inMoveSteps.includes(batch.failedStep))) continue;
    for (const mover of await store.movers(migration.id, batch.id)) {
      const id = `${batch.service}\u0000${batch.source}\u0000${batch.destination}\u0000${mover.market}`;
      const move = moves.get(id);
      if (move) move.users += 1;
      else
        moves.set(id, {
          migrationId: migration.id,
          service: batch.service,
          source: batch.source,
          destination: batch.destination,
          market: mover.market,
          users: 1,
        });
    }
  }
  return [...moves.values()];
}

/**
 * The open moves as a tool that does not run the coordinator sees them (`domicile report
 * residency` on a data folder nothing serves): the coordinator's state is opened to read and
 * closed, and a data folder that never ran a migration has none.
 */
export async function readOpenMoves(host: { dataDir: string; directoryUrl?: string | undefined }): Promise<OpenMove[]> {
  const file = coordinatorFile(host.dataDir);
  if (!host.directoryUrl && !existsSync(file)) return [];
  const store = host.directoryUrl
    ? await PostgresCoordinatorStore.open(host.directoryUrl)
    : new SqliteCoordinatorStore(file);
  try {
    return await openMoves(store);
  } finally {
    await store.close();
  }
}
