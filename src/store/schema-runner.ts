import { createHash } from 'node:crypto';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * One step of a store's schema. Migrations are append-only: a change is a new entry at the end
 * of its list, never an edit of one that has run somewhere.
 */
export interface SchemaMigration {
  id: number;
  name: string;
  sql: string;
}

/** A row of a ledger; sha256 is null in rows written by versions before checksums. */
export interface LedgerRow {
  id: number;
  name: string;
  sha256: string | null;
}

type Maybe<T> = T | Promise<T>;

/**
 * What the runner needs of a backend: its SQL for a transaction, a migration's statements and
 * the ledger, and nothing else. SQLite's answers at once (better-sqlite3 is synchronous, and
 * its stores open in constructors); PostgreSQL's with promises.
 */
export interface SchemaLedger {
  /** Keeps other processes' runners out until unlock (PostgreSQL: an advisory lock). */
  lock?(): Maybe<void>;
  unlock?(): Maybe<void>;
  begin(): Maybe<void>;
  commit(): Maybe<void>;
  rollback(): Maybe<void>;
  /** Creates the ledger, with its sha256 column, unless it is there. */
  createLedger(): Maybe<void>;
  /** Whether the ledger has its sha256 column (a ledger of the versions before checksums has not). */
  hasChecksums(): Maybe<boolean>;
  addChecksums(): Maybe<void>;
  readLedger(): Maybe<LedgerRow[]>;
  setChecksum(id: number, sha256: string): Maybe<void>;
  run(sql: string): Maybe<void>;
  record(migration: SchemaMigration, sha256: string, at: number): Maybe<void>;
}

/**
 * A migration's checksum: the SHA-256 of its SQL alone, each line trimmed and blank lines left
 * out. Its id and name have checks of their own, with messages of their own; the checksum says
 * one thing, that the statements are the ones that ran. Indentation is left out so that moving
 * a migration list or re-indenting its template literal is not an edit: SQL means the same
 * however it is indented, PL/pgSQL bodies included (a multi-line string literal of data in a
 * migration would lose that, and none has one).
 */
export function migrationChecksum(sql: string): string {
  const text = sql
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('\n');
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The runner's steps, written once for both backends: each call on the ledger is yielded, and
 * a driver (applySchemaSync, applySchemaAsync) hands back its answer, at once or awaited.
 */
type Steps<T> = Generator<unknown, T, unknown>;

function* step<T>(answer: Maybe<T>): Steps<T> {
  return (yield answer) as T;
}

function* inTransaction<T>(ledger: SchemaLedger, body: () => Steps<T>): Steps<T> {
  yield* step(ledger.begin());
  try {
    const result = yield* body();
    yield* step(ledger.commit());
    return result;
  } catch (err) {
    yield* step(ledger.rollback());
    throw err;
  }
}

/** Refuses a ledger row this build disagrees with; answers the migration it records. */
function checkRow(row: LedgerRow, known: ReadonlyMap<number, SchemaMigration>, where: string): SchemaMigration {
  const migration = known.get(row.id);
  if (!migration) {
    throw new DomicileError(
      'INTERNAL',
      `the store ${where} has schema migration ${row.id} ("${row.name}"), which this version of Domicile does not know: run a newer version`,
    );
  }
  if (migration.name !== row.name) {
    throw new DomicileError(
      'INTERNAL',
      `the store ${where} applied schema migration ${row.id} as "${row.name}", but this version calls it "${migration.name}": migrations are append-only, so this build is inconsistent with the store`,
    );
  }
  return migration;
}

function* runSchema(ledger: SchemaLedger, where: string, migrations: readonly SchemaMigration[]): Steps<number[]> {
  const known = new Map(migrations.map((m) => [m.id, m]));
  if (ledger.lock) yield* step(ledger.lock());
  try {
    // The ledger is created, upgraded, checked and sealed in one transaction: a store this build
    // refuses is left as it was found, upgrade included.
    const applied = yield* inTransaction(ledger, function* () {
      yield* step(ledger.createLedger());
      if (!(yield* step(ledger.hasChecksums()))) yield* step(ledger.addChecksums());
      const rows = yield* step(ledger.readLedger());
      for (const row of rows) {
        const migration = checkRow(row, known, where);
        const sha256 = migrationChecksum(migration.sql);
        if (row.sha256 === null) {
          // Applied by a version before checksums (an upgraded ledger): this trusts that what
          // ran is what this build says, as those versions did, and seals it from now on.
          yield* step(ledger.setChecksum(row.id, sha256));
        } else if (row.sha256 !== sha256) {
          throw new DomicileError(
            'INTERNAL',
            `the store ${where} applied schema migration ${row.id} ("${row.name}") from other SQL than this version has for it ` +
              `(SHA-256 ${row.sha256.slice(0, 12)}… recorded, ${sha256.slice(0, 12)}… now): it was edited after it ran, and migrations are append-only. ` +
              `Restore migration ${row.id}'s SQL as it was and make the change a new migration at the end of the list, or run the version of Domicile that applied it`,
            { details: { migration: row.id, name: row.name, recorded: row.sha256, current: sha256 } },
          );
        }
      }
      return new Set(rows.map((r) => r.id));
    });
    const ran: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      yield* inTransaction(ledger, function* () {
        yield* step(ledger.run(migration.sql));
        yield* step(ledger.record(migration, migrationChecksum(migration.sql), Date.now()));
      });
      ran.push(migration.id);
    }
    return ran;
  } finally {
    if (ledger.unlock) yield* step(ledger.unlock());
  }
}

/**
 * Applies the migrations not in the ledger, each in a transaction of its own, after checking
 * every applied one against this build (id, name, SHA-256); answers the ids it ran. `where`
 * names the store in refusals. For a ledger whose every call answers at once (SQLite's).
 */
export function applySchemaSync(ledger: SchemaLedger, where: string, migrations: readonly SchemaMigration[]): number[] {
  const steps = runSchema(ledger, where, migrations);
  let next = steps.next();
  while (!next.done) {
    next =
      next.value instanceof Promise
        ? steps.throw(new TypeError('applySchemaSync needs a ledger that answers at once; use applySchemaAsync'))
        : steps.next(next.value);
  }
  return next.value;
}

/** applySchemaSync, for a ledger that answers with promises (PostgreSQL's). */
export async function applySchemaAsync(
  ledger: SchemaLedger,
  where: string,
  migrations: readonly SchemaMigration[],
): Promise<number[]> {
  const steps = runSchema(ledger, where, migrations);
  let next = steps.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = await next.value;
    } catch (err) {
      next = steps.throw(err);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}
