import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Directory } from '../directory/directory.js';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import type { Policy } from '../policy/policy-schema.js';
import type { RegionClient } from '../region/region-client.js';
import { newId } from '../shared/new-id.js';
import type { BatchContext, PhaseResult } from './batch-context.js';
import { type CatchUpOptions, defaultCatchUp } from './catch-up-batch.js';
import type {
  BatchMover,
  BatchRecord,
  CoordinatorStore,
  MigrationRecord,
  TransferRecord,
} from './coordinator-store.js';
import { envFault, type FaultHook } from './fault-point.js';
import { fencedRegion } from './fenced-region.js';
import { applySettings, type SettingsPatch } from './migration-settings.js';
import { buildStatus, type MigrationStatus } from './migration-status.js';
import { completeStep, forwardStep, reversePass, rollbackStep, type StepHost } from './migration-steps.js';
import { finalStates, type MigrationState, workingStates } from './migration-types.js';
import { listMovingUsers } from './moving-users.js';
import { checkPlanRegions, type MigrationPlan, planMigration, resolveServiceOrder } from './plan-migration.js';
import { PostgresCoordinatorStore } from './postgres-coordinator-store.js';
import { ProgressMeter } from './progress-meter.js';
import { RateLimiter } from './rate-limiter.js';
import { settleBatch } from './settle-batch.js';
import { SqliteCoordinatorStore } from './sqlite-coordinator-store.js';
import type { CopiedRows } from './verified-rows.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';

/** What the engine stands on: the platform's policy, directory and live regions. */
export interface EngineHost {
  policy: Policy;
  dataDir: string;
  directory: Directory;
  regions: ReadonlyMap<string, RegionClient>;
  /**
   * A PostgreSQL directory that several gateways share. The coordinator's state then rests in
   * the same database (unless coordinatorUrl says otherwise): gateways that share their users'
   * homes must share the migrations that move them, or two could move the same users at once.
   */
  directoryUrl?: string | undefined;
}

export interface MigrationEngineOptions {
  host: EngineHost;
  /** The coordinator's SQLite file (default `<data>/migrations/coordinator.db`), when it has no coordinatorUrl. */
  file?: string;
  /**
   * A PostgreSQL database (postgres://…) for the coordinator's state, which several gateway
   * processes share: every one steers, one at a time leads and runs the migration. Default:
   * the host's directoryUrl, if any.
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
  private steps: StepHost;
  /** This process's lead: its token, and the state as the leader writes it (fenced by the token). */
  private lead: Lead | undefined;
  /** Whether this process runs the migrations (always, on a SQLite file; the lock holder's, on a shared state). */
  private leading = false;
  private leadTimer: NodeJS.Timeout | undefined;
  private checkingLead: Promise<void> | undefined;

  private constructor(
    private readonly options: MigrationEngineOptions,
    readonly store: CoordinatorStore,
  ) {
    this.limiter = new RateLimiter(async () => (await this.store.latest())?.settings.rate ?? 0);
    // Replaced when this process takes the lead (takeLead); the steps run only while it leads.
    this.steps = this.leaderSteps({ token: 0, store });
  }

  /** The engine as one lead's steps see it: their writes and region calls carry its token. */
  private leaderSteps(lead: Lead): StepHost {
    return {
      store: lead.store,
      meter: this.meter,
      catchUp: { ...defaultCatchUp, ...this.options.catchUp },
      fullVerify: this.options.fullVerify ?? false,
      context: (batch) => this.context(batch, lead),
      movers: (batch) => this.batchMovers(batch),
      region: (id, migration) => fencedRegion(this.region(id), { migration, token: lead.token }),
      log: (line) => this.log(line),
      fail: (m, result) => this.fail(m, result, lead),
    };
  }

  /**
   * Opens the coordinator and, when no other gateway leads it, takes the lead (see takeLead).
   * On a shared state, the gateways that do not lead try again every leadIntervalMs, so one
   * takes over when the leader stops.
   */
  static async open(options: MigrationEngineOptions): Promise<MigrationEngine> {
    const url = options.coordinatorUrl ?? options.host.directoryUrl;
    const store = url
      ? await PostgresCoordinatorStore.open(url)
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
    const token = this.store.leadToken!;
    const lead: Lead = { token, store: this.store.asLeader(token) };
    const m = await this.store.latest();
    if (m && !finalStates.includes(m.state)) {
      try {
        await this.raiseFences(m, token);
      } catch (err) {
        // On a shared state the lead waits (it is tried again at the next interval): leading
        // before the regions know the token would let the deposed leader act beside this one.
        // A SQLite file is this process's alone, so nobody else can have led it meanwhile.
        this.log(`migration ${m.id}: cannot raise the lead's fencing token in its regions: ${(err as Error).message}`);
        if (this.store.shared) return;
      }
    }
    this.lead = lead;
    this.steps = this.leaderSteps(lead);
    if (m) {
      if (workingStates.includes(m.state))
        await lead.store.setState(m.id, 'interrupted', { from: [m.state], resumeState: m.state });
      for (const batch of await this.store.batches(m.id, ['cutting-over', 'rolling-back'])) {
        const settled = await settleBatch(await this.context(batch, lead));
        this.log(
          settled.ok
            ? `migration ${m.id}: batch ${batch.id} ${settled.value}`
            : `migration ${m.id}: ${settled.error.message}`,
        );
      }
    }
    // Leading once the migration shows what the predecessor left (interrupted, nobody fenced).
    this.leading = true;
    if (!m) return;
    // Cut-over batches' destinations keep taking writes: replicate them back.
    if (m.state === 'cut-over' || m.state === 'paused') this.kick();
  }

  /**
   * Tells every region the migration touches (its plan's and its batches' sources and
   * destinations) this lead's token, before the lead acts: from then on each refuses what the
   * previous leader still sends, wherever it was in its step.
   */
  private async raiseFences(m: MigrationRecord, token: number): Promise<void> {
    const regions = new Set<string>();
    for (const g of m.plan.groups) regions.add(g.from).add(g.to);
    for (const b of await this.store.batches(m.id)) regions.add(b.source).add(b.destination);
    for (const id of regions) {
      const client = this.host.regions.get(id);
      if (client) await client.raiseFence({ fence: { migration: m.id, token } });
    }
  }

  /** A region or the state refused this process's lead token: another leads now, and this one stops. */
  private stepDown(lead: Lead, reason: string): void {
    if (this.lead !== lead) return;
    this.lead = undefined;
    this.leading = false;
    this.log(`this gateway no longer leads the migration coordinator: ${reason}`);
  }

  /**
   * On a shared state, every leadIntervalMs: a gateway that does not lead tries to; the leader
   * makes sure it still holds the lead (a dropped connection loses it) and picks up what was
   * steered through another gateway (a migration started there, say).
   */
  private checkLead(): Promise<void> {
    if (this.checkingLead || this.closing) return Promise.resolve();
    this.checkingLead = this.checkLeadNow().finally(() => {
      this.checkingLead = undefined;
    });
    return this.checkingLead;
  }

  private async checkLeadNow(): Promise<void> {
    try {
      if (!this.leading) {
        await this.takeLead();
        if (this.leading) this.log('this gateway now leads the migration coordinator');
      } else if (!(await this.store.lead())) {
        this.leading = false;
        this.log(
          'this gateway lost the lead of the migration coordinator (its connection dropped): it stops migrating after the current step',
        );
      }
      this.kick();
    } catch (err) {
      this.log(`the migration coordinator's lead: ${(err as Error).message}`);
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
    if (!client)
      throw new DomicileError(
        'UNAVAILABLE',
        `region ${id} does not run under policy "${this.host.policy.name}": restart \`domicile up\` with a policy that keeps it active or draining`,
        { details: { region: id } },
      );
    return client;
  }

  private async batchMovers(batch: BatchRecord): Promise<BatchMover[]> {
    const id = `${batch.migrationId}/${batch.id}`;
    let users = this.movers.get(id);
    if (!users) this.movers.set(id, (users = await this.store.movers(batch.migrationId, batch.id)));
    return users;
  }

  private copiedRows(batch: BatchRecord): CopiedRows {
    const id = `${batch.migrationId}/${batch.id}`;
    let rows = this.copied.get(id);
    if (!rows)
      this.copied.set(id, (rows = { rows: new Map(), complete: false, digestKey: randomBytes(32).toString('hex') }));
    return rows;
  }

  private async context(batch: BatchRecord, lead: Lead): Promise<BatchContext> {
    const migration = await this.store.get(batch.migrationId);
    const state = migration?.state;
    const fence = { migration: batch.migrationId, token: lead.token };
    return {
      policy: migration?.policy ?? { name: this.host.policy.name, version: this.host.policy.version },
      copied: this.copiedRows(batch),
      batch,
      users: await this.batchMovers(batch),
      source: fencedRegion(this.region(batch.source), fence),
      destination: fencedRegion(this.region(batch.destination), fence),
      directory: this.host.directory,
      store: lead.store,
      limiter: this.limiter,
      meter: this.meter,
      fault: this.options.fault ?? envFault,
      // An operator's command, through this gateway or another, changes the state.
      stopRequested: async () =>
        this.closing ||
        !this.leading ||
        this.lead !== lead ||
        (await this.store.get(batch.migrationId))?.state !== state,
    };
  }

  /** What would move now, or between two policies; refuses destinations that are not active. */
  plan(
    request: { services?: string[] | undefined; from?: Policy | undefined; to?: Policy | undefined } = {},
  ): Promise<MigrationPlan> {
    return planMigration({
      directory: this.host.directory,
      regions: this.host.regions,
      policy: request.to ?? this.host.policy,
      from: request.from,
      services: request.services,
    });
  }

  async start(request: StartRequest = {}): Promise<MigrationStatus> {
    const settings = applySettings(request);
    this.refuseUnfinished(await this.store.latest());
    const { policy } = this.host;
    const services = resolveServiceOrder(policy, request.services);
    const plan = await this.plan({ services });
    checkPlanRegions(plan, policy, new Set(this.host.regions.keys()));
    const movers = await listMovingUsers(this.host.directory, policy, services);
    if (movers.length === 0) {
      throw new DomicileError(
        'CONFLICT',
        `nothing to move: every user's ${services.join(', ')} data is homed where policy "${policy.name}" (version ${policy.version}) places it`,
      );
    }
    const id = newId('m', 8);
    // The store refuses it if another migration was started meanwhile (through another gateway, say).
    const unfinished = await this.store.createMigration(
      { id, policy: { name: policy.name, version: policy.version }, services, settings, plan },
      movers,
    );
    this.refuseUnfinished(unfinished);
    this.log(
      `migration ${id}: ${movers.length} user-services to move under policy "${policy.name}" (${services.join(' → ')})`,
    );
    this.kick();
    return (await this.status(id))!;
  }

  private refuseUnfinished(current: MigrationRecord | undefined): void {
    if (current && !finalStates.includes(current.state)) {
      throw new DomicileError(
        'CONFLICT',
        `migration ${current.id} is ${current.state}: finish it first (\`domicile migrate complete\` or \`domicile migrate rollback\`)`,
      );
    }
  }

  async status(id?: string): Promise<MigrationStatus | undefined> {
    const m = id === undefined || id === 'current' ? await this.store.latest() : await this.store.get(id);
    if (!m) return undefined;
    return buildStatus(m, await this.store.batches(m.id), {
      totalUsers: await this.store.moverCount(m.id),
      transfers: await this.store.transferCount(m.id),
      rates: this.meter.rates(),
      lag: { catchUp: m.state === 'running' ? this.meter.catchUpLag : 0, reverse: this.meter.reverseLag },
      warnings: [
        ...(this.meter.reverseError === null
          ? []
          : [`${this.meter.reverseError}; a rollback now would be refused until it works again`]),
        ...(m.policy.name === this.host.policy.name && m.policy.version === this.host.policy.version
          ? []
          : [
              `it was planned under policy "${m.policy.name}" (version ${m.policy.version}), but the platform now runs "${this.host.policy.name}" (version ${this.host.policy.version}): its destinations may no longer be allowed`,
            ]),
        ...(this.store.shared && !this.leading && workingStates.includes(m.state)
          ? ["another gateway leads the migration: the rates and lags shown are this gateway's, which moves nothing"]
          : []),
      ],
    });
  }

  transfers(migrationId?: string): Promise<TransferRecord[]> {
    return this.store.transfers(migrationId);
  }

  private async requireLatest(): Promise<MigrationRecord> {
    const m = await this.store.latest();
    if (!m)
      throw new DomicileError(
        'NOT_FOUND',
        'no migration has been started: plan one with `domicile plan`, start it with `domicile migrate start`',
      );
    return m;
  }

  /** Moves the migration from one of `from` to `to`, unless it changed meanwhile (then CONFLICT, naming its state now). */
  private async transition(
    m: MigrationRecord,
    from: readonly MigrationState[],
    to: MigrationState,
    verb: string,
    hint: string,
  ): Promise<MigrationStatus> {
    if (!from.includes(m.state))
      throw new DomicileError('CONFLICT', `cannot ${verb} migration ${m.id}: it is ${m.state}; ${hint}`);
    // An operator's command supersedes the failure it answers.
    if (!(await this.store.setState(m.id, to, { from: [m.state], resumeState: null, error: null }))) {
      const now = await this.store.get(m.id);
      throw new DomicileError(
        'CONFLICT',
        `cannot ${verb} migration ${m.id}: it has just become ${now?.state ?? 'unknown'}; look at \`domicile migrate status\` and try again`,
      );
    }
    this.log(`migration ${m.id}: ${m.state} → ${to}`);
    this.kick();
    return (await this.status(m.id))!;
  }

  async pause(): Promise<MigrationStatus> {
    return this.transition(
      await this.requireLatest(),
      ['running'],
      'paused',
      'pause',
      'only a running migration pauses',
    );
  }

  async resume(): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    const to: MigrationState = m.state === 'paused' ? 'running' : (m.resumeState ?? 'running');
    return this.transition(
      m,
      ['paused', 'interrupted', 'failed'],
      to,
      'resume',
      'resume goes on after pause, an interruption or a failure',
    );
  }

  /**
   * Purges the sources. Once every batch is cut over, also from a failure or an interruption
   * (a roll-back the source refused, say): the destinations serve everyone, so completing is
   * always a way forward.
   */
  async complete(): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    const allCutOver =
      (await this.store.unassigned(m.id)) === 0 &&
      (await this.store.batches(m.id)).every(
        (b) => b.step === 'cut-over' || b.step === 'completing' || b.step === 'completed',
      );
    const from: MigrationState[] = allCutOver ? ['cut-over', 'failed', 'interrupted'] : ['cut-over'];
    return this.transition(
      m,
      from,
      'completing',
      'complete',
      'complete purges the sources once every batch is cut over (state cut-over)',
    );
  }

  async rollback(): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    if (m.state === 'failed' && m.resumeState === 'completing') {
      throw new DomicileError(
        'CONFLICT',
        `cannot roll back migration ${m.id}: it failed while completing, and completed batches' sources are purged; \`domicile migrate resume\` to finish completing it`,
      );
    }
    return this.transition(
      m,
      ['running', 'paused', 'interrupted', 'cut-over', 'failed'],
      'rolling-back',
      'roll back',
      'a migration that completes has purged its sources, and one rolled back is done',
    );
  }

  async updateSettings(patch: SettingsPatch): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    if (finalStates.includes(m.state))
      throw new DomicileError('CONFLICT', `migration ${m.id} is ${m.state}: its settings no longer matter`);
    await this.store.setSettings(m.id, applySettings(patch, m.settings));
    this.kick();
    return (await this.status(m.id))!;
  }

  /** Resolves once the migration rests (nothing to do on its own) or reaches one of `states`. */
  async waitFor(
    states: readonly MigrationState[] = ['cut-over', 'paused', 'interrupted', 'failed', 'completed', 'rolled-back'],
    timeoutMs = 600_000,
  ): Promise<MigrationStatus | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.store.latest();
      if (!m || states.includes(m.state) || (this.leading && !this.loop && !workingStates.includes(m.state)))
        return this.status();
      if (Date.now() > deadline)
        throw new DomicileError('UNAVAILABLE', `migration ${m.id} is still ${m.state} after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Stops the loop after its current step; the state stays as the step left it, and the lead is let go. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.leadTimer);
    this.wake?.();
    await this.checkingLead;
    await this.loop;
    await this.store.close();
  }

  private kick(): void {
    this.wake?.();
    if (this.loop || this.closing || !this.leading) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
    });
  }

  private async run(): Promise<void> {
    while (!this.closing && this.leading) {
      let busy = false;
      let m: MigrationRecord | undefined;
      try {
        m = await this.store.latest();
        if (!m || !['running', 'completing', 'rolling-back', 'paused', 'cut-over'].includes(m.state)) return;
        const reverseDue = performance.now() - this.lastReverse > (this.options.reverseIntervalMs ?? 100);
        if (m.state === 'running' || m.state === 'paused' || m.state === 'cut-over') {
          if (reverseDue || m.state !== 'running') {
            this.lastReverse = performance.now();
            await reversePass(this.steps, m);
          }
        }
        if (m.state === 'running') busy = await forwardStep(this.steps, m);
        else if (m.state === 'completing') busy = await completeStep(this.steps, m);
        else if (m.state === 'rolling-back') busy = await rollbackStep(this.steps, m);
      } catch (err) {
        const error =
          err instanceof DomicileError ? err : new DomicileError('INTERNAL', (err as Error).message, { cause: err });
        if (m)
          await this.fail(m, { ok: false, error }).catch((e: unknown) =>
            this.log(`migration ${m!.id}: cannot record its failure: ${(e as Error).message}`),
          );
        else this.log(`the migration coordinator cannot read its state: ${error.message}`);
      }
      if (busy) await yieldToEventLoop();
      if (!busy && !this.closing) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.reverseIntervalMs ?? 100);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /**
   * Records a step's failure, unless an operator changed the migration's state meanwhile (their
   * command stands), or the step was refused because another process leads now (STALE_LEADER):
   * then this one stops and records nothing.
   */
  private async fail(m: MigrationRecord, result: PhaseResult<unknown>, lead = this.lead): Promise<void> {
    if (result.ok) return;
    if (!lead || result.error.code === 'STALE_LEADER') {
      if (lead) this.stepDown(lead, result.error.message);
      return;
    }
    this.log(`migration ${m.id} failed: ${result.error.message}`);
    try {
      await lead.store.setState(m.id, 'failed', { from: [m.state], resumeState: m.state, error: result.error.message });
    } catch (err) {
      if (!isDomicileError(err, 'STALE_LEADER')) throw err;
      this.stepDown(lead, err.message);
    }
  }
}

/** A lead this process took: its token, and the coordinator's state as its steps write it. */
interface Lead {
  token: number;
  store: CoordinatorStore;
}
