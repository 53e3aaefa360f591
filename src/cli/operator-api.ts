import { existsSync, readFileSync } from 'node:fs';
import { errorFromJSON, DomicileError } from '../errors/domicile-error.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import { loadSecrets, Platform } from '../platform/platform.js';
import { residencyReport, type ResidencyReport } from '../platform/residency-report.js';
import { whereUser, type WhereReport } from '../platform/where-user.js';
import { resolvePolicyFile, runtimeFile } from './cli-options.js';

/** What the operator commands need, whether the platform is running or not. */
export interface OperatorApi {
  residency(): Promise<ResidencyReport>;
  where(userId: string): Promise<WhereReport>;
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
  constructor(private readonly url: string, private readonly token: string) {}

  private async get<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, { headers: { authorization: `Bearer ${this.token}` } });
    } catch (err) {
      throw new DomicileError('UNAVAILABLE', `cannot reach the platform at ${this.url}: is \`domicile up\` running? (${(err as Error).message})`, { cause: err });
    }
    const body: unknown = await res.json().catch(() => null);
    if (!res.ok) throw errorFromJSON(body, `the platform answered ${res.status}`);
    return body as T;
  }

  residency(): Promise<ResidencyReport> {
    return this.get('/v1/ops/residency');
  }

  where(userId: string): Promise<WhereReport> {
    return this.get(`/v1/ops/users/${encodeURIComponent(userId)}`);
  }

  async close(): Promise<void> {}
}

class InProcessOperatorApi implements OperatorApi {
  constructor(private readonly platform: Platform) {}

  residency(): Promise<ResidencyReport> {
    return residencyReport(this.platform);
  }

  where(userId: string): Promise<WhereReport> {
    return whereUser(this.platform, userId);
  }

  close(): Promise<void> {
    return this.platform.close();
  }
}

export interface OperatorAccess {
  url?: string | undefined;
  data: string;
  policy?: string | undefined;
  regionUrl?: Record<string, string> | undefined;
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
    throw new DomicileError('NOT_FOUND', `no data folder at ${access.data}: start the platform with \`domicile up --data ${access.data}\`, or name the folder with --data`);
  }
  const policy = await loadPolicyFile(resolvePolicyFile(access.policy));
  return new InProcessOperatorApi(await Platform.open({ policy, dataDir: access.data, remoteRegions: access.regionUrl ?? {} }));
}
