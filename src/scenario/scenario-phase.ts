import type { FastifyInstance } from 'fastify';
import { DomicileError } from '../errors/domicile-error.js';
import type { AuthThrottleOptions } from '../gateway/auth-throttle.js';
import { buildGateway } from '../gateway/build-gateway.js';
import { MigrationEngine } from '../migrate/migration-engine.js';
import type { MigrationStatus } from '../migrate/migration-status.js';
import { Platform } from '../platform/platform.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import { packagedFile } from '../shared/packaged-file.js';
import type { Latency } from '../wan/latency-schema.js';
import { WanEmulator } from '../wan/wan-emulator.js';

/**
 * The demo's and the latency bench's synthetic users all arrive from this process's one
 * address, as no real population does: the per-address and per-identifier limits are lifted.
 */
const syntheticTraffic: Partial<AuthThrottleOptions> = {
  loginsPerIdentifier: { limit: 1_000_000, windowSeconds: 1 },
  loginsPerAddress: { limit: 1_000_000, windowSeconds: 1 },
  registrationsPerAddress: { limit: 1_000_000, windowSeconds: 1 },
};

/** The 2014 scenario's phases after `before`, in order. */
export const scenarioPhases = ['phase1', 'phase2', 'phase3'] as const;

export interface ScenarioPhase {
  platform: Platform;
  engine: MigrationEngine;
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * One data folder opened under one of the scenario's policies (examples/<phase>.yaml), with its
 * migration engine and gateway, as `domicile demo` and `domicile bench latency` run them; with
 * a latency file, in WAN emulation mode.
 */
export async function openScenarioPhase(
  dataDir: string,
  phase: string,
  wan?: { latency: Latency; edgeCache: boolean },
): Promise<ScenarioPhase> {
  const policyFile = packagedFile('examples', `${phase}.yaml`);
  const policy = await loadPolicyFile(policyFile);
  const emulator = wan && new WanEmulator(wan.latency, policy, wan.latency.name);
  const platform = await Platform.open({
    policy,
    dataDir,
    durability: 'normal',
    traceRegionCalls: emulator !== undefined,
  });
  const engine = await MigrationEngine.open({ host: platform });
  const app = await buildGateway(platform, {
    migrations: engine,
    wan: emulator,
    edgeCache: wan?.edgeCache ?? true,
    throttle: syntheticTraffic,
  });
  return {
    platform,
    engine,
    app,
    close: async () => {
      await app.close();
      await engine.close();
      await platform.close();
    },
  };
}

/** Starts the migration to the phase's policy, lets it cut over, completes it, and answers its final status. */
export async function migrateToCompletion(
  engine: MigrationEngine,
  phase: string,
  batchSize: number,
): Promise<MigrationStatus> {
  await engine.start({ batchSize });
  const cut = await engine.waitFor(['cut-over', 'failed', 'paused', 'interrupted']);
  if (cut?.state !== 'cut-over')
    throw new DomicileError('INTERNAL', `the ${phase} migration stopped ${cut?.state}: ${cut?.error ?? ''}`);
  await engine.complete();
  const done = await engine.waitFor(['completed', 'failed']);
  if (done?.state !== 'completed')
    throw new DomicileError('INTERNAL', `the ${phase} migration did not complete: ${done?.error ?? ''}`);
  return done;
}
