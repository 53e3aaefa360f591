import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { checkTrustedProxies } from '../gateway/trusted-proxies.js';
import { packageRoot } from '../shared/packaged-file.js';

/** The policy `domicile up` starts with when none is given: the scenario's last phase. */
export const defaultPolicyFile = join(packageRoot, 'examples', 'phase3.yaml');
/** The scenario's round trips, for the WAN emulation, the latency bench and plan's forecast. */
export const defaultLatencyFile = join(packageRoot, 'examples', 'latency.yaml');

export const defaultDataDir = '.domicile';

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new InvalidArgumentError(
      `"${value}" is not a port: give a whole number from 0 to 65535 (0 picks a free one)`,
    );
  }
  return port;
}

/** A size in bytes: a whole number, or one with a binary unit (512KiB, 200MiB, 5GiB). */
export function parseByteSize(value: string): number {
  const m = /^(\d{1,15})(KiB|MiB|GiB|TiB)?$/.exec(value.trim());
  const units: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
  const bytes = m ? Number(m[1]) * (m[2] === undefined ? 1 : (units[m[2]] ?? 1)) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new InvalidArgumentError(
      `"${value}" is not a size: give a whole number of bytes, or one with KiB, MiB, GiB or TiB (for example 5GiB)`,
    );
  }
  return bytes;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError(`"${value}" is not a whole number of at least 1`);
  return n;
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError(`"${value}" is not a whole number of at least 0`);
  return n;
}

const durationUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `--logins-per-address 30/1m`: COUNT/DURATION, the duration in s, m, h or d. */
export function parseRateLimit(value: string): { limit: number; windowSeconds: number } {
  const match = /^(\d{1,10})\/(\d{1,6})([smhd])$/.exec(value.trim());
  const limit = Number(match?.[1]);
  const windowSeconds = Number(match?.[2]) * (durationUnits[match?.[3] ?? ''] ?? Number.NaN);
  if (!match || limit < 1 || windowSeconds < 1 || windowSeconds > 7 * 86_400) {
    throw new InvalidArgumentError(
      `"${value}" is not COUNT/DURATION: write for example 10/15m (a count of at least 1, a duration from 1s to 7d in s, m, h or d)`,
    );
  }
  return { limit, windowSeconds };
}

/** `--trust-proxy 10.0.0.0/8,192.168.1.7`: the load balancers whose X-Forwarded-For is believed. */
export function parseTrustedProxies(value: string): string[] {
  try {
    return checkTrustedProxies(value.split(','), `"${value}"`);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? `${err.message}; give a comma-separated list` : String(err));
  }
}

/** `--services shop,account`: service ids, in the order they should move. */
export function parseServices(value: string): string[] {
  const services = value.split(',').map((s) => s.trim());
  const bad = services.find((s) => !/^[a-z][a-z0-9-]{0,62}$/.test(s));
  if (bad !== undefined) {
    throw new InvalidArgumentError(
      `"${value}" is not a comma-separated list of service ids (${bad === '' ? 'an empty name' : `"${bad}"`}): write for example shop,account`,
    );
  }
  return services;
}

/** `--directory-url postgres://…`: the shared PostgreSQL directory, checked as it is given rather than at the first query. */
export function parseDirectoryUrl(value: string): string {
  let ok = /^postgres(ql)?:\/\//.test(value);
  try {
    new URL(value);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new InvalidArgumentError(
      `"${value}" is not a PostgreSQL URL: write for example postgres://domicile@db.example:5432/domicile_directory`,
    );
  }
  return value;
}

/** `--region-url sg-singapore=http://127.0.0.1:7101`, repeatable. */
export function collectRegionUrl(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([a-z][a-z0-9-]*)=(https?:\/\/[^\s]+)$/.exec(value);
  if (!match?.[1] || !match[2]) {
    throw new InvalidArgumentError(`"${value}" is not REGION=URL, for example sg-singapore=http://127.0.0.1:7101`);
  }
  return { ...previous, [match[1]]: match[2].replace(/\/+$/, '') };
}

export function resolvePolicyFile(file: string | undefined): string {
  return resolve(file ?? defaultPolicyFile);
}

export function runtimeFile(dataDir: string): string {
  return join(dataDir, 'runtime.json');
}

export function dataDirExists(dataDir: string): boolean {
  return existsSync(dataDir);
}
