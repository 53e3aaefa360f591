import { createHmac } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';
import { openPgPool, pgWhere } from '../store/postgres/pg-pool.js';
import { applyPgMigrations } from '../store/postgres/pg-schema-ledger.js';
import type { SchemaMigration } from '../store/schema-runner.js';

/** Append-only; a ledger of its own, beside the directory's. */
const migrations: SchemaMigration[] = [
  {
    id: 1,
    name: 'fingerprints of the gateways secrets',
    sql: `
    CREATE TABLE gateway_secrets (
      name text PRIMARY KEY,
      fingerprint text NOT NULL,
      recorded_at bigint NOT NULL,
      recorded_by text NOT NULL
    );
  `,
  },
];

/**
 * The secrets every gateway of one directory must share, or the users split: a token one signs
 * the others reject, a login one indexes the others do not find (and register again), a phone
 * hashes its contacts with a key another gateway's discovery does not use. The operator and node
 * tokens are left out: they change nothing users see, and a node refuses a wrong one itself.
 */
export const sharedSecrets = [
  { key: 'jwtKey', name: 'token signing key', file: 'jwt.key' },
  { key: 'indexKey', name: 'blind index key', file: 'index.key' },
  { key: 'discoveryKey', name: 'contact discovery key', file: 'discovery.key' },
] as const;

export type SharedSecrets = Record<(typeof sharedSecrets)[number]['key'], string>;

/**
 * What the directory keeps of a secret: an HMAC keyed by the secret over a fixed label, which
 * tells whether two secrets are the same and nothing of either (they are 256 random bits).
 */
export function secretFingerprint(file: string, secret: string): string {
  return createHmac('sha256', secret).update(`domicile gateway secret fingerprint v1: ${file}`).digest('hex');
}

interface Recorded {
  name: string;
  fingerprint: string;
  recorded_at: number;
  recorded_by: string;
}

/**
 * Checks this gateway's secrets against the fingerprints the first gateway on a shared
 * PostgreSQL directory recorded (recording them if this one is the first), and refuses to start,
 * naming each secret that differs and where to copy it from, if they are not the same.
 */
export async function checkSharedSecrets(directoryUrl: string, secrets: SharedSecrets, dataDir: string): Promise<void> {
  const where = pgWhere(directoryUrl);
  const pool = openPgPool({ url: directoryUrl, size: 1, what: "the gateways' secret fingerprints" });
  const self = `${hostname()}:${resolve(dataDir)}`;
  let recorded: Recorded[];
  try {
    await applyPgMigrations(
      pool,
      `the gateways' secret fingerprints at ${where}`,
      migrations,
      'secrets_schema_migrations',
    );
    // The first to record sets them all: one statement, its rows in one order, so of gateways
    // starting at once the one that records the first row records every row.
    const rows = sharedSecrets.map((s) => [s.file, secretFingerprint(s.file, secrets[s.key])]);
    await pool.query(
      `INSERT INTO gateway_secrets (name, fingerprint, recorded_at, recorded_by) VALUES ${rows.map((_, i) => `($${2 * i + 3}, $${2 * i + 4}, $1, $2)`).join(', ')} ON CONFLICT (name) DO NOTHING`,
      [Date.now(), self, ...rows.flat()],
    );
    recorded = (await pool.query<Recorded>('SELECT name, fingerprint, recorded_at, recorded_by FROM gateway_secrets'))
      .rows;
  } catch (err) {
    if (err instanceof DomicileError) throw err;
    throw new DomicileError(
      'UNAVAILABLE',
      `cannot check this gateway's secrets against the directory at ${where}: ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await pool.end().catch(() => undefined);
  }
  const byName = new Map(recorded.map((r) => [r.name, r]));
  const differing = sharedSecrets.filter(
    (s) => byName.get(s.file)?.fingerprint !== secretFingerprint(s.file, secrets[s.key]),
  );
  if (differing.length === 0) return;
  const first = byName.get(differing[0]!.file)!;
  const [host, ...folder] = first.recorded_by.split(':');
  const theirs = join(folder.join(':'), 'secrets');
  const mine = join(resolve(dataDir), 'secrets');
  throw new DomicileError(
    'CONFLICT',
    `this gateway's ${differing.map((s) => `${s.name} (secrets/${s.file})`).join(', ')} ${differing.length === 1 ? 'differs' : 'differ'} from the other gateways' on the shared directory at ${where}, ` +
      `so it would split the users (reject their tokens, register their logins again). Every gateway of one directory runs with the same secrets: ` +
      `copy ${differing.map((s) => s.file).join(', ')} from ${theirs} on ${host} (the gateway that first started on this directory, ${new Date(first.recorded_at).toISOString()}) ` +
      `to ${mine} on this machine (mode 0600), then start this gateway again`,
    { details: { differing: differing.map((s) => s.file) } },
  );
}
