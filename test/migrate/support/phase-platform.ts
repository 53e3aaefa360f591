import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildGateway } from '../../../src/gateway/build-gateway.js';
import {
  type EngineHost,
  MigrationEngine,
  type MigrationEngineOptions,
} from '../../../src/migrate/migration-engine.js';
import { Platform } from '../../../src/platform/platform.js';
import { loadPolicyFile } from '../../../src/policy/load-policy.js';
import type { Policy } from '../../../src/policy/policy-schema.js';
import type { RegionClient } from '../../../src/region/region-client.js';
import { examplesDir, liftedAuthThrottle } from '../../support/test-platform.js';

export interface PhasePlatform {
  platform: Platform;
  engine: MigrationEngine;
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * The platform of one data folder opened under one of the scenario's policies, with its
 * migration engine and gateway: reopening the same folder under the next phase is what an
 * operator does when the policy changes.
 */
export async function openPhase(
  dataDir: string,
  phase: string | Policy,
  engine: Omit<MigrationEngineOptions, 'host'> = {},
  /** What the engine sees of the platform (tests put intercepting region clients there). */
  host: (platform: Platform) => EngineHost = (platform) => platform,
): Promise<PhasePlatform> {
  const policy = typeof phase === 'string' ? await loadPolicyFile(join(examplesDir, `${phase}.yaml`)) : phase;
  const platform = await Platform.open({ policy, dataDir, durability: 'normal' });
  const migrations = await MigrationEngine.open({ host: host(platform), reverseIntervalMs: 20, ...engine });
  const app = await buildGateway(platform, { migrations, throttle: liftedAuthThrottle });
  return {
    platform,
    engine: migrations,
    app,
    close: async () => {
      await app.close();
      await migrations.close();
      await platform.close();
    },
  };
}

/** A scenario policy, parsed, for tests that change it. */
export function scenarioPolicy(phase: string): Promise<Policy> {
  return loadPolicyFile(join(examplesDir, `${phase}.yaml`));
}

/** A region client whose named methods are replaced; the others go to the real one. */
export function intercept(client: RegionClient, overrides: Partial<RegionClient>): RegionClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const own = (overrides as Record<string | symbol, unknown>)[prop];
      if (own !== undefined) return own;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
