import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Directory } from '../directory/directory.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { Policy } from '../policy/policy-schema.js';
import type { RegionClient } from '../region/region-client.js';
import type { BatchContext, PhaseResult } from './batch-context.js';
import { defaultCatchUp, type CatchUpOptions } from './catch-up-batch.js';
import type { BatchMover, BatchRecord, CoordinatorStore, MigrationRecord, TransferRecord } from './coordinator-store.js';
import { envFault, type FaultHook } from './fault-point.js';
import { applySettings, type SettingsPatch } from './migration-settings.js';
import { buildStatus, type MigrationStatus } from './migration-status.js';
import { finalStates, workingStates, type MigrationState } from './migration-types.js';
import { listMovingUsers } from './moving-users.js';
import { checkPlanRegions, planMigration, resolveServiceOrder, type MigrationPlan } from './plan-migration.js';
import { ProgressMeter } from './progress-meter.js';
import { completeStep, forwardStep, reversePass, rollbackStep, type StepHost } from './migration-steps.js';
import { RateLimiter } from './rate-limiter.js';
import { settleBatch } from './settle-batch.js';
import { newId } from '../shared/new-id.js';
import { PostgresCoordinatorStore } from './postgres-coordinator-store.js';
import { SqliteCoordinatorStore } from './sqlite-coordinator-store.js';
import type { CopiedRows } from './verified-rows.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';

/** What the engine stands on: the platform's policy, directory and live regions. */
export interface EngineHost {
  policy: Policy;
  dataDir: string;
  directory: Directory;
  regions: ReadonlyMap<string, RegionClient>;
}

export interface MigrationEngineOptions {
  host: EngineHost;
  /** The coordinator's SQLite file (default `<data>/migrations/coordinator.db`), when it has no coordinatorUrl. */
  file?: string;
  /**
   * A PostgreSQL database (postgres://…) for the coordinator's state, which several gateway
   * processes share: every one steers, one at a time leads and runs the migration.
   */
  coordinatorUrl?: string | undefined;
  /** How often a gateway sharing its state tries for the lead, and the leader looks for work steered elsewhere (default 500 ms). */
  leadIntervalMs?: number;
  /** Called at each named fault point (default: DOMICILE_FAULT kills the process there). */
  fault?: FaultHook;
  /** How often reverse replication runs while nothing else does (default 100 ms). */
  reverseIntervalMs?: number;
  /** Digest every user of a batch again under the fence, not only the changed ones (default false). */
  fullVerify?: boolean;
  catchUp?: Partial<CatchUpOptions>;
  /** Progress lines for an operator's log (default: none). */
  log?: (line: string) => void;
}

export interface StartRequest extends SettingsPatch {
  services?: string[] | undefined;
}

export function coordinatorFile(dataDir: string): string {
  return join(dataDir, 'migrations', 'coordinator.db');
}

/**
 * The migration coordinator. It runs in the process that serves the users (`domicile up`),
 * in the background: one loop that takes one step at a time (a batch's copy, catch-up,
 * verify and cut-over, a reverse-replication pass, a batch's completion or roll-back) and
 * records each step in the coordinator's database before the next, so a process killed at
 * any point resumes where it was. Operators steer it through the methods below.
 */
export class MigrationEngine {
  private readonly meter = new ProgressMeter();
  private readonly limiter: RateLimiter;
  private readonly movers = new Map<string, BatchMover[]>();
  private readonly copied = new Map<string, CopiedRows>();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closing = false;
  private lastReverse = 0;
  private readonly steps: StepHost;
  /** Whether this process runs the migrations (always, on a SQLite file; the lock holder's, on a shared state). */
  private leading = false;
  private leadTimer: NodeJS.Timeout | undefined;
  private checkingLead = false;

  private constructor(private readonly options: MigrationEngineOptions, readonly store: CoordinatorStore) {
    this.limiter = new RateLimiter(async () => (await this.store.latest())?.settings.rate ?? 0);
    this.steps = {
      store, meter: this.meter, catchUp: { ...defaultCatchUp, ...options.catchUp }, fullVerify: options.fullVerify ?? false,
      context: (batch) => this.context(batch),
      movers: (batch) => this.batchMovers(batch),
      region: (id) => this.region(id),
      log: (line) => this.log(line),
      fail: (m, result) => this.fail(m, result),
    };
  }

  /**
   * Opens the coordinator and, when no other gateway leads it, takes the lead (see takeLead).
   * On a shared state, the gateways that do not lead try again every leadIntervalMs, so one
   * takes over when the leader stops.
   */
  static async open(options: MigrationEngineOptions): Promise<MigrationEngine> {
    const store = options.coordinatorUrl
      ? await PostgresCoordinatorStore.open(options.coordinatorUrl)
      : new SqliteCoordinatorStore(options.file ?? coordinatorFile(options.host.dataDir));
    const engine = new MigrationEngine(options, store);
    try {
      await engine.takeLead();
    } catch (err) {
      await store.close();
      throw err;
    }
    if (store.shared) {
      engine.leadTimer = setInterval(() => void engine.checkLead(), options.leadIntervalMs ?? 500);
      engine.leadTimer.unref();
    }
    return engine;
  }

  /** Whether this process runs the migrations now. */
  get leads(): boolean {
    return this.leading;
  }

  /**
   * Takes the lead if it is free. Whoever led before has stopped: a migration it was working
   * on is marked interrupted (it goes on with `resume`), and any batch it left inside a
   * cut-over is settled at once, so that no user stays fenced while it waits.
   */
  private async takeLead(): Promise<void> {
    if (this.leading || this.closing || !(await this.store.lead())) return;
    this.leading = true;
    const m = await this.store.latest();
    if (!m) return;
    if (workingStates.includes(m.state)) await this.store.setState(m.id, 'interrupted', { from: [m.state], resumeState: m.state });
    for (const batch of await this.store.batches(m.id, ['cutting-over', 'rolling-back'])) {
      const settled = await settleBatch(await this.context(batch));
      this.log(settled.ok ? `migration ${m.id}: batch ${batch.id} ${settled.value}` : `migration ${m.id}: ${settled.error.message}`);
    }
    // Cut-over batches' destinations keep taking writes: replicate them back.
    if (m.state === 'cut-over' || m.state === 'paused') this.kick();
  }

  /**
   * On a shared state, every leadIntervalMs: a gateway that does not lead tries to; the leader
   * makes sure it still holds the lead (a dropped connection loses it) and picks up what was
   * steered through another gateway (a migration started there, say).
   */
  private async checkLead(): Promise<void> {
    if (this.checkingLead || this.closing) return;
    this.checkingLead = true;
    try {
      if (!this.leading) {
        await this.takeLead();
        if (this.leading) this.log('this gateway now leads the migration coordinator');
      } else if (!(await this.store.lead())) {
        this.leading = false;
        this.log('this gateway lost the lead of the migration coordinator (its connection dropped): it stops migrating after the current step');
      }
      this.kick();
    } catch (err) {
      this.log(`the migration coordinator's lead: ${(err as Error).message}`);
    } finally {
      this.checkingLead = false;
    }
  }

  private get host(): EngineHost {
    return this.options.host;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private region(id: string): RegionClient {
    const client = this.host.regions.get(id);
    if (!client) throw new DomicileError('UNAVAILABLE', `region ${id} does not run under policy "${this.host.policy.name}": restart \`domicile up\` with a policy that keeps it active or draining`, { details: { region: id } });
    return client;
  }

