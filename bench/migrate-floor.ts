import { randomBytes } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { open, seal } from '../src/crypto/aead.js';
import { recordAad } from '../src/region/record-crypto.js';
import { plainHash } from '../src/region/user-digest.js';

export interface FloorFigure {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
}

function median<T>(runs: T[], by: (t: T) => number): T {
  return [...runs].sort((a, b) => by(a) - by(b))[Math.floor(runs.length / 2)]!;
}

/**
 * The floor a migration is measured against: the same rows copied by SQLite alone, one
 * `INSERT … SELECT` between two attached files in one transaction, with the same durability.
 * No decryption, no re-encryption, no change log, no verification, no cut-over: what moving
 * these bytes from one file to another costs at the very least on this machine. The median of
 * `runs` copies into fresh files: one copy of 100,000 rows takes well under a second, and on a
 * shared machine a single one swings by half.
 */
export function measureFloor(options: {
  sourceStore: string;
  workDir: string;
  service: string;
  durability: 'full' | 'normal';
  runs?: number;
}): FloorFigure {
  const src = join(options.workDir, 'floor-source.db');
  copyFileSync(options.sourceStore, src);
  const runs: FloorFigure[] = [];
  try {
    for (let run = 0; run < (options.runs ?? 3); run++) {
      const destination = join(options.workDir, `floor-destination-${run}.db`);
      const db = new Database(destination);
      try {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
        db.exec(`ATTACH DATABASE '${src.replaceAll("'", "''")}' AS src`);
        db.exec(`CREATE TABLE records (
          user_id TEXT NOT NULL, service TEXT NOT NULL, collection TEXT NOT NULL, key TEXT NOT NULL,
          version INTEGER NOT NULL, ciphertext BLOB NOT NULL, updated_at INTEGER NOT NULL,
          PRIMARY KEY (user_id, service, collection, key))`);
        const copy = db.prepare(
          'INSERT INTO main.records SELECT user_id, service, collection, key, version, ciphertext, updated_at FROM src.records WHERE service = ?',
        );
        const started = performance.now();
        const rows = db.transaction(() => copy.run(options.service).changes).immediate();
        const seconds = (performance.now() - started) / 1000;
        runs.push({ rows, seconds, rowsPerSecond: rows / seconds });
      } finally {
        db.close();
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${destination}${suffix}`, { force: true });
      }
    }
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${src}${suffix}`, { force: true });
  }
  return median(runs, (r) => r.rowsPerSecond);
}

/** The ciphertext sizes of a sample of the rows (20,000 by default) in a SQLite store: a cost per row is told as well by them as by all. */
export function sqliteRowSizes(sourceStore: string, service: string, sample = 20_000): number[] {
  const db = new Database(sourceStore, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare<[string, number], number>('SELECT length(ciphertext) FROM records WHERE service = ? LIMIT ?')
      .pluck()
      .all(service, sample);
  } finally {
    db.close();
  }
}

/** The same, of a PostgreSQL region's schema. */
export async function postgresRowSizes(
  url: string,
  schema: string,
  service: string,
  sample = 20_000,
): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (
      await client.query<{ n: number }>(
        `SELECT length(ciphertext) AS n FROM ${schema}.records WHERE service = $1 LIMIT $2`,
        [service, sample],
      )
    ).rows.map((r) => r.n);
  } finally {
    await client.end();
  }
}

/**
 * The floor on PostgreSQL: the same rows copied by the server alone, one INSERT … SELECT from
 * the source region's schema into a fresh table in another schema of the same server, in one
 * transaction (PostgreSQL cannot INSERT … SELECT across databases without an extension; two
 * schemas on one server is the same copy). Median of `runs`.
 */
export async function measurePostgresFloor(options: {
  url: string;
  sourceSchema: string;
  service: string;
  runs?: number;
}): Promise<FloorFigure> {
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  const runs: FloorFigure[] = [];
  try {
    for (let run = 0; run < (options.runs ?? 3); run++) {
      const schema = `floor_${process.pid}_${Date.now().toString(36)}_${run}`;
      await client.query(`CREATE SCHEMA ${schema}`);
      try {
        await client.query(`CREATE TABLE ${schema}.records (user_id text NOT NULL, service text NOT NULL, collection text NOT NULL, key text NOT NULL,
          version bigint NOT NULL, ciphertext bytea NOT NULL, updated_at bigint NOT NULL, PRIMARY KEY (user_id, service, collection, key))`);
        const started = performance.now();
        await client.query('BEGIN');
        const result = await client.query(
          `INSERT INTO ${schema}.records SELECT user_id, service, collection, key, version, ciphertext, updated_at FROM ${options.sourceSchema}.records WHERE service = $1`,
          [options.service],
        );
        await client.query('COMMIT');
        const seconds = (performance.now() - started) / 1000;
        const rows = result.rowCount ?? 0;
        runs.push({ rows, seconds, rowsPerSecond: rows / seconds });
      } finally {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      }
    }
  } finally {
    await client.end();
  }
  return median(runs, (r) => r.rowsPerSecond);
}

/**
 * The cryptography a verified cross-region copy cannot do without, per row, on rows of the
 * same sizes as the migrated ones: open under the source's key (keys never leave their region,
 * so every row is decrypted there), seal under the destination's fresh key, open again where
 * the verification reads the destination back, and SHA-256 the plaintext on each side. With
 * the project's own AEAD envelope and record AAD; no SQLite, no JSON, nothing else. Median of
 * `runs`, on up to `sample` rows.
 */
export function measureAeadFloor(options: { sizes: readonly number[]; service: string; runs?: number }): FloorFigure {
  const { sizes } = options;
  const sourceKey = randomBytes(32);
  const destinationKey = randomBytes(32);
  const address = (i: number) => ({
    regionId: 'cn-beijing',
    userId: `u_bench${String(i % 100_000).padStart(7, '0')}`,
    service: options.service,
    collection: 'orders',
    key: `r${i % 100}`,
    version: 1,
  });
  // The source's envelopes, made before the clock starts; plaintexts the size the rows hold.
  const sealed = sizes.map((n, i) => seal(sourceKey, randomBytes(Math.max(1, n - 29)), recordAad(address(i))));
  const runs: FloorFigure[] = [];
  for (let run = 0; run < (options.runs ?? 3); run++) {
    const started = performance.now();
    let check = 0;
    for (const [i, envelope] of sealed.entries()) {
      const plain = open(sourceKey, envelope, recordAad({ ...address(i) }));
      const sourceHash = plainHash(plain);
      const destinationAddress = { ...address(i), regionId: 'sg-singapore' };
      const resealed = seal(destinationKey, plain, recordAad(destinationAddress));
      const readBack = open(destinationKey, resealed, recordAad(destinationAddress));
      if (plainHash(readBack) === sourceHash) check++;
    }
    const seconds = (performance.now() - started) / 1000;
    if (check !== sealed.length) throw new Error(`the AEAD floor's round trip changed ${sealed.length - check} rows`);
    runs.push({ rows: sealed.length, seconds, rowsPerSecond: sealed.length / seconds });
  }
  return median(runs, (r) => r.rowsPerSecond);
}
