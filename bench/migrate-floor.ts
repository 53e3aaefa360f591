import { copyFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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
export function measureFloor(options: { sourceStore: string; workDir: string; service: string; durability: 'full' | 'normal'; runs?: number }): FloorFigure {
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
        const copy = db.prepare('INSERT INTO main.records SELECT user_id, service, collection, key, version, ciphertext, updated_at FROM src.records WHERE service = ?');
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

/**
 * The cryptography a verified cross-region copy cannot do without, per row, on rows of the
 * same sizes as the migrated ones: open under the source's key (keys never leave their region,
 * so every row is decrypted there), seal under the destination's fresh key, open again where
 * the verification reads the destination back, and SHA-256 the plaintext on each side. With
 * the project's own AEAD envelope and record AAD; no SQLite, no JSON, nothing else. Median of
 * `runs`, on up to `sample` rows.
 */
export function measureAeadFloor(options: { sourceStore: string; service: string; runs?: number; sample?: number }): FloorFigure {
  const db = new Database(options.sourceStore, { readonly: true, fileMustExist: true });
  let sizes: number[];
  try {
    // A cost per row: a sample of the rows (20,000 by default) tells it as well as all of them.
    sizes = db.prepare<[string, number], number>('SELECT length(ciphertext) FROM records WHERE service = ? LIMIT ?').pluck().all(options.service, options.sample ?? 20_000);
  } finally {
    db.close();
  }
  const sourceKey = randomBytes(32);
  const destinationKey = randomBytes(32);
  const address = (i: number) => ({ regionId: 'cn-beijing', userId: `u_bench${String(i % 100_000).padStart(7, '0')}`, service: options.service, collection: 'orders', key: `r${i % 100}` });
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
