import { existsSync, readFileSync } from 'node:fs';
import type { AuditEvent } from '../audit/audit-event.js';
import type { DsarRequest } from '../dsar/dsar-requests.js';
import type { DsarExport } from '../dsar/dsar-service.js';
import { DomicileError, errorFromJSON } from '../errors/domicile-error.js';
import { MigrationEngine, type StartRequest } from '../migrate/migration-engine.js';
import type { SettingsPatch } from '../migrate/migration-settings.js';
import type { MigrationStatus } from '../migrate/migration-status.js';
import { openMoves, readOpenMoves } from '../migrate/open-moves.js';
import type { MigrationPlan } from '../migrate/plan-migration.js';
import { loadSecrets, Platform } from '../platform/platform.js';
import { type ResidencyReport, residencyReport } from '../platform/residency-report.js';
import { type WhereReport, whereUser } from '../platform/where-user.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import type { Policy } from '../policy/policy-schema.js';
import type { AuditPage } from '../region/region-client.js';
import { resolvePolicyFile, runtimeFile } from './cli-options.js';

export type MigrationAction = 'pause' | 'resume' | 'rollback' | 'complete';

export interface PlanRequest {
  from?: Policy | undefined;
  to?: Policy | undefined;
  services?: string[] | undefined;
}

/** What the operator commands need, whether the platform is running or not. */
export interface OperatorApi {
  /**
   * True when the data folder is opened in this process (nothing runs it): a migration then
   * runs only while the command does, so migration commands wait for it to rest.
   */
  readonly inProcess: boolean;
  residency(): Promise<ResidencyReport>;
  where(userId: string): Promise<WhereReport>;
  plan(request: PlanRequest): Promise<MigrationPlan>;
  startMigration(request: StartRequest): Promise<MigrationStatus>;
  migrationStatus(): Promise<MigrationStatus>;
  steerMigration(action: MigrationAction): Promise<MigrationStatus>;
  migrationSettings(patch: SettingsPatch): Promise<MigrationStatus>;
  /** The regions whose audit logs can be read. */
  auditRegions(): Promise<string[]>;
  auditPage(region: string, afterSeq: number, limit: number): Promise<AuditPage>;
  /** Records in a region's log that a residency report with this hash was issued; returns its seq. */
  recordReport(region: string, event: Extract<AuditEvent, { type: 'residency-report' }>): Promise<number>;
  dsarExport(userId: string): Promise<DsarExport>;
  dsarErase(userId: string): Promise<DsarRequest>;
  dsarStatus(id: string): Promise<DsarRequest>;
  close(): Promise<void>;
}

export interface RuntimeInfo {
  url: string;
  pid: number;
  policyFile: string;
  startedAt: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The running `domicile up` of a data folder, if there is one. */
export function readRuntime(dataDir: string): RuntimeInfo | undefined {
  const file = runtimeFile(dataDir);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as RuntimeInfo;
    return isAlive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

class HttpOperatorApi implements OperatorApi {
  readonly inProcess = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new DomicileError(
        'UNAVAILABLE',
        `cannot reach the platform at ${this.url}: is \`domicile up\` running? (${(err as Error).message})`,
        { cause: err },
      );
    }
    const reply: unknown = await res.json().catch(() => null);
    if (!res.ok) throw errorFromJSON(reply, `the platform answered ${res.status}`);
    return reply as T;
  }

  residency(): Promise<ResidencyReport> {
    return this.call('GET', '/v1/ops/residency');
  }

  where(userId: string): Promise<WhereReport> {
    return this.call('GET', `/v1/ops/users/${encodeURIComponent(userId)}`);
  }

  plan(request: PlanRequest): Promise<MigrationPlan> {
    return this.call('POST', '/v1/ops/plans', request);
  }

  startMigration(request: StartRequest): Promise<MigrationStatus> {
    return this.call('POST', '/v1/ops/migrations', request);
  }

  migrationStatus(): Promise<MigrationStatus> {
    return this.call('GET', '/v1/ops/migrations/current');
  }

  steerMigration(action: MigrationAction): Promise<MigrationStatus> {
    return this.call('POST', `/v1/ops/migrations/current/${action}`);
  }

  migrationSettings(patch: SettingsPatch): Promise<MigrationStatus> {
    return this.call('PATCH', '/v1/ops/migrations/current/settings', patch);
  }

  async auditRegions(): Promise<string[]> {
    return (await this.call<{ regions: string[] }>('GET', '/v1/ops/audit')).regions;
  }

  auditPage(region: string, afterSeq: number, limit: number): Promise<AuditPage> {
    return this.call('GET', `/v1/ops/audit/${encodeURIComponent(region)}?afterSeq=${afterSeq}&limit=${limit}`);
  }

  async recordReport(region: string, event: Extract<AuditEvent, { type: 'residency-report' }>): Promise<number> {
    return (await this.call<{ seq: number }>('POST', `/v1/ops/audit/${encodeURIComponent(region)}/reports`, event)).seq;
  }

  dsarExport(userId: string): Promise<DsarExport> {
    return this.call('POST', '/v1/ops/dsar', { userId, kind: 'export' });
  }

  dsarErase(userId: string): Promise<DsarRequest> {
    return this.call('POST', '/v1/ops/dsar', { userId, kind: 'erase' });
  }

  dsarStatus(id: string): Promise<DsarRequest> {
    return this.call('GET', `/v1/ops/dsar/${encodeURIComponent(id)}`);
  }

  async close(): Promise<void> {}
}

class InProcessOperatorApi implements OperatorApi {
  readonly inProcess = true;
  private engine: Promise<MigrationEngine> | undefined;

  constructor(private readonly platform: Platform) {}

  /** Opened on first use: a migration that ran when its process stopped shows as interrupted. */
  private migrations(): Promise<MigrationEngine> {
    this.engine ??= MigrationEngine.open({ host: this.platform });
    return this.engine;
  }

  private async latest(engine: MigrationEngine): Promise<MigrationStatus> {
    const status = await engine.status();
    if (!status)
      throw new DomicileError(
        'NOT_FOUND',
        'no migration has been started: plan one with `domicile plan`, start it with `domicile migrate start`',
      );
    return status;
  }

  /** The coordinator's open moves: from the engine if this process opened it, else read and closed (nothing is taken over). */
  async residency(): Promise<ResidencyReport> {
    const moves = this.engine ? await openMoves((await this.engine).store) : await readOpenMoves(this.platform);
    return residencyReport(this.platform, moves);
  }

  where(userId: string): Promise<WhereReport> {
    return whereUser(this.platform, userId);
  }

  async plan(request: PlanRequest): Promise<MigrationPlan> {
    return (await this.migrations()).plan(request);
  }

  async startMigration(request: StartRequest): Promise<MigrationStatus> {
    return (await this.migrations()).start(request);
  }

  async migrationStatus(): Promise<MigrationStatus> {
    return this.latest(await this.migrations());
  }

  async steerMigration(action: MigrationAction): Promise<MigrationStatus> {
    const engine = await this.migrations();
    await this.latest(engine);
    return engine[action]();
  }

  async migrationSettings(patch: SettingsPatch): Promise<MigrationStatus> {
    const engine = await this.migrations();
    await this.latest(engine);
    return engine.updateSettings(patch);
  }

  async auditRegions(): Promise<string[]> {
    return [...this.platform.regions.keys()];
  }

  auditPage(region: string, afterSeq: number, limit: number): Promise<AuditPage> {
    return this.platform.region(region).readAudit({ afterSeq, limit });
  }

  async recordReport(region: string, event: Extract<AuditEvent, { type: 'residency-report' }>): Promise<number> {
    return (await this.platform.region(region).recordEvents({ events: [{ id: `report:${event.hash}`, event }] }))
      .seqs[0]!;
  }

  dsarExport(userId: string): Promise<DsarExport> {
    return this.platform.dsar.export(userId, 'operator');
  }

  dsarErase(userId: string): Promise<DsarRequest> {
    return this.platform.dsar.erase(userId, 'operator');
  }

  async dsarStatus(id: string): Promise<DsarRequest> {
    return this.platform.dsar.status(id);
  }

  async close(): Promise<void> {
    if (this.engine) await (await this.engine).close();
    await this.platform.close();
  }
}

export interface OperatorAccess {
  url?: string | undefined;
  data: string;
  policy?: string | undefined;
  regionUrl?: Record<string, string> | undefined;
  /** The gateways' shared PostgreSQL directory, opened (with the coordinator's state beside it) when no gateway runs. */
  directoryUrl?: string | undefined;
  /** The command only reads: opened in process, the data folder is not changed by opening it. */
  readOnly?: boolean;
}

/**
 * Steers the running platform through its operator API when one runs (`--url`, or the
 * runtime file `domicile up` leaves in the data folder); otherwise opens the data folder
 * in this process, with the policy given (or the default one).
 */
export async function openOperatorApi(access: OperatorAccess): Promise<OperatorApi> {
  const running = access.url ?? readRuntime(access.data)?.url;
  if (running !== undefined) {
    const token = process.env.DOMICILE_OPERATOR_TOKEN ?? loadSecrets(access.data).operatorToken;
    return new HttpOperatorApi(running.replace(/\/+$/, ''), token);
  }
  if (!existsSync(access.data)) {
    throw new DomicileError(
      'NOT_FOUND',
      `no data folder at ${access.data}: start the platform with \`domicile up --data ${access.data}\`, or name the folder with --data`,
    );
  }
  const policy = await loadPolicyFile(resolvePolicyFile(access.policy));
  return new InProcessOperatorApi(
    await Platform.open({
      policy,
      dataDir: access.data,
      remoteRegions: access.regionUrl ?? {},
      readOnly: access.readOnly ?? false,
      directoryUrl: access.directoryUrl,
    }),
  );
}
