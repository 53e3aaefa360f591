import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export interface SqliteFileOptions {
  /** 'full' (default): every commit synced, survives power loss; 'normal': survives a process crash. */
  durability?: 'full' | 'normal';
  /** How long a write waits for another connection's lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * Hold the file's lock for as long as it is open (locking_mode=EXCLUSIVE): no other process
   * opens the file meanwhile, and reads skip the WAL's shared memory (half a point read's cost).
   */
  exclusive?: boolean;
  foreignKeys?: boolean;
}

/**
 * Opens one of Domicile's SQLite files (a region store, the directory, the coordinator's state)
 * the one way they are all opened: its folder created (0700), WAL, the durability asked for,
 * and secure_delete=FAST: space a deleted or rewritten row leaves inside a page is zeroed (a
 * memset of a page that is written anyway), so an update leaves no old copy of a row's names
 * (user id, record key) in the page's free space for a later purge or erasure to miss. Freed
 * whole pages are zeroed only where a caller turns secure_delete ON (a scrubbing deletion).
 */
export function openSqliteDatabase(file: string, options: SqliteFileOptions = {}): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${(options.durability ?? 'full') === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('secure_delete = FAST');
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    if (options.foreignKeys) db.pragma('foreign_keys = ON');
    if (options.exclusive) db.pragma('locking_mode = EXCLUSIVE');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
