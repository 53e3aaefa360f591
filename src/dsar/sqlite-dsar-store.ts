import type Database from 'better-sqlite3';
import type { SchemaMigration } from '../store/schema-runner.js';
import { openSqliteDatabase } from '../store/sqlite/open-sqlite-database.js';
import { applyMigrations } from '../store/sqlite/sqlite-schema-ledger.js';
import type { DsarKind, DsarPatch, DsarRequest, DsarState, DsarStore } from './dsar-requests.js';

/** Append-only. */
const migrations: SchemaMigration[] = [
  {
    id: 1,
    name: 'data subject requests',
    sql: `
    CREATE TABLE requests (
      id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('export', 'erase')),
      state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'failed')),
      source TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      regions_done TEXT NOT NULL,
      error TEXT
    );
    CREATE INDEX requests_state ON requests (state);
  `,
  },
  {
    id: 2,
    name: 'leases',
    // Even in one process, the minute's retry and an erasure under way must not work one request twice.
    sql: `
    ALTER TABLE requests ADD COLUMN leased_by TEXT;
    ALTER TABLE requests ADD COLUMN lease_until INTEGER;
  `,
  },
];

interface Row {
  id: string;
  user_id: string;
  kind: DsarKind;
  state: DsarState;
  source: string;
  created_at: number;
  updated_at: number;
  regions_done: string;
  error: string | null;
}

function toRequest(r: Row): DsarRequest {
  return {
    id: r.id,
    userId: r.user_id,
    kind: r.kind,
    state: r.state,
    source: r.source,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    regionsDone: JSON.parse(r.regions_done) as string[],
    error: r.error,
  };
}

const columns = 'id, user_id, kind, state, source, created_at, updated_at, regions_done, error';

/**
 * The embedded default's requests, in `<data>/dsar/requests.db`, which only this process opens
 * (an exclusive lock): its leases keep this process's own workers apart.
 */
export class SqliteDsarStore implements DsarStore {
  readonly where: string;
  private readonly db: Database.Database;

  constructor(file: string) {
    this.where = file;
    this.db = openSqliteDatabase(file, { durability: 'full', exclusive: true });
    applyMigrations(this.db, file, migrations);
  }

  async create(
    r: Pick<DsarRequest, 'id' | 'userId' | 'kind' | 'source'>,
    holder: string,
    leaseMs: number,
  ): Promise<DsarRequest> {
    const now = Date.now();
    this.db
      .prepare(
        `INSERT INTO requests (${columns}, leased_by, lease_until) VALUES (?, ?, ?, 'pending', ?, ?, ?, '[]', NULL, ?, ?)`,
      )
      .run(r.id, r.userId, r.kind, r.source, now, now, holder, now + leaseMs);
    return this.read(r.id)!;
  }

  async get(id: string): Promise<DsarRequest | undefined> {
    return this.read(id);
  }

  async claimPending(holder: string, leaseMs: number, skip: readonly string[]): Promise<DsarRequest | undefined> {
    const now = Date.now();
    const skipped = new Set(skip);
    const free = this.db
      .prepare<[number], { id: string }>(
        "SELECT id FROM requests WHERE state = 'pending' AND kind = 'erase' AND (lease_until IS NULL OR lease_until < ?) ORDER BY created_at, id",
      )
      .all(now)
      .find((r) => !skipped.has(r.id));
    if (!free) return undefined;
    this.db
      .prepare('UPDATE requests SET leased_by = ?, lease_until = ? WHERE id = ?')
      .run(holder, now + leaseMs, free.id);
    return this.read(free.id);
  }

  async renew(id: string, holder: string, leaseMs: number): Promise<boolean> {
    return (
      this.db
        .prepare('UPDATE requests SET lease_until = ? WHERE id = ? AND leased_by = ?')
        .run(Date.now() + leaseMs, id, holder).changes === 1
    );
  }

  async update(
    id: string,
    holder: string,
    patch: DsarPatch,
    lease: { release: true } | { leaseMs: number },
  ): Promise<DsarRequest | undefined> {
    const current = this.read(id);
    const now = Date.now();
    const released = 'release' in lease;
    const changed = this.db
      .prepare(
        'UPDATE requests SET state = ?, regions_done = ?, error = ?, updated_at = ?, leased_by = ?, lease_until = ? WHERE id = ? AND leased_by = ?',
      )
      .run(
        patch.state ?? current?.state ?? 'pending',
        JSON.stringify(patch.regionsDone ?? current?.regionsDone ?? []),
        patch.error === undefined ? (current?.error ?? null) : patch.error,
        now,
        released ? null : holder,
        released ? null : now + lease.leaseMs,
        id,
        holder,
      ).changes;
    return changed === 1 ? this.read(id) : undefined;
  }

  async releaseAll(holder: string): Promise<void> {
    this.db.prepare('UPDATE requests SET leased_by = NULL, lease_until = NULL WHERE leased_by = ?').run(holder);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private read(id: string): DsarRequest | undefined {
    const row = this.db.prepare<[string], Row>(`SELECT ${columns} FROM requests WHERE id = ?`).get(id);
    return row && toRequest(row);
  }
}
