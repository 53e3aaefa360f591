import type Database from 'better-sqlite3';

/**
 * Runs a deleting transaction with secure_delete ON: SQLite overwrites the deleted rows, and the
 * pages they free, with zeros instead of leaving them in free space; the TRUNCATE checkpoint a
 * caller runs next (checkpointScrubbed) copies the scrubbed pages into the database file and
 * empties the write-ahead log, whose older frames still hold the rows. Without both, a shredded
 * wrapped key or an erased user's id would survive in the files: it must be gone, not unlinked.
 * Only for deletions that must leave nothing: zeroing every freed page on the request path
 * would cost writes for nothing (files are opened with secure_delete FAST, see openSqliteDatabase).
 */
export function withSecureDelete<T>(db: Database.Database, fn: () => T): T {
  const before = Number(db.pragma('secure_delete', { simple: true }));
  db.pragma('secure_delete = ON');
  try {
    return fn();
  } finally {
    db.pragma(`secure_delete = ${before === 2 ? 'FAST' : before === 0 ? 'OFF' : 'ON'}`);
  }
}

/**
 * Folds the write-ahead log into the database file and truncates it, so the frames that held
 * deleted rows are gone. It cannot finish while another connection reads (a file opened
 * non-exclusively); it is then best effort, and the next checkpoint completes the scrub.
 */
export function checkpointScrubbed(db: Database.Database): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
}
