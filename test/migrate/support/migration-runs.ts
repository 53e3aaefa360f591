import { expect } from 'vitest';
import type { MigrationEngine, StartRequest } from '../../../src/migrate/migration-engine.js';
import type { FaultPoint } from '../../../src/migrate/migration-types.js';
import type { PhasePlatform } from './phase-platform.js';

/** Waits for a running migration to cut over with no error. */
export async function expectCutOver(engine: MigrationEngine): Promise<void> {
  const cut = await engine.waitFor();
  expect(cut?.error ?? null).toBeNull();
  expect(cut?.state).toBe('cut-over');
}

/** Waits for a migration asked to complete to be completed, with no error. */
export async function expectCompleted(engine: MigrationEngine): Promise<void> {
  const done = await engine.waitFor(['completed', 'failed']);
  expect(done?.error ?? null).toBeNull();
  expect(done?.state).toBe('completed');
}

/** Runs a started migration to its cut-over, completes it, and waits until it is completed. */
export async function expectCutOverAndCompleted(engine: MigrationEngine): Promise<void> {
  await expectCutOver(engine);
  await engine.complete();
  await expectCompleted(engine);
}

/**
 * A crash at one named step, once: the fault hook never returns there (nothing after it runs,
 * as after a SIGKILL), and `crashed` resolves when it is reached.
 */
export function crashAt(point: FaultPoint): { fault: (p: FaultPoint) => Promise<void> | void; crashed: Promise<void> } {
  let reached!: () => void;
  const crashed = new Promise<void>((resolve) => (reached = resolve));
  let fired = false;
  const fault = (p: FaultPoint): Promise<void> | void => {
    if (p !== point || fired) return;
    fired = true;
    reached();
    return new Promise<void>(() => {});
  };
  return { fault, crashed };
}

/**
 * Starts a migration on a platform whose fault hook is `crashAt(point)` and runs it until the
 * crash (asking it to complete first when the crash is inside complete).
 */
export async function runUntilCrash(
  engine: MigrationEngine,
  point: FaultPoint,
  crashed: Promise<void>,
  request: StartRequest,
): Promise<void> {
  await engine.start(request);
  if (point === 'inside-complete') {
    expect((await Promise.race([engine.waitFor(), crashed.then(() => undefined)]))?.state).toBe('cut-over');
    await engine.complete();
  }
  await crashed;
}

/** The process "dies": nothing of it runs on, its files are left as they are. */
export async function abandon(dead: PhasePlatform): Promise<void> {
  await dead.engine.store.close();
  await dead.app.close();
  await dead.platform.close();
}

/**
 * After a restart: resumes an interrupted migration and finishes it (a crash inside complete
 * resumes completing; any other resumes running, cuts over and is then completed).
 */
export async function resumeToCompletion(engine: MigrationEngine, point: FaultPoint): Promise<void> {
  await engine.resume();
  if (point !== 'inside-complete') {
    await expectCutOver(engine);
    await engine.complete();
  }
  await expectCompleted(engine);
}
