import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * The floor a migration is measured against: the same rows copied by SQLite alone, one
 * `INSERT … SELECT` between two attached files in one transaction, with the same durability.
 * No decryption, no re-encryption, no change log, no verification, no cut-over: what moving
 * these bytes from one file to another costs at the very least on this machine.
 */
export function measureFloor(options: { sourceStore: string; workDir: string; service: string; durability: 'full' | 'normal' }): { rows: number; seconds: number; rowsPerSecond: number } {
  const src = join(options.workDir, 'floor-source.db');
  copyFileSync(options.sourceStore, src);
  const db = new Database(join(options.workDir, 'floor-destination.db'));
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
    return { rows, seconds, rowsPerSecond: rows / seconds };
  } finally {
    db.close();
  }
}
