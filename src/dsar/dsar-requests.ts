import type Database from 'better-sqlite3';
import type { SchemaMigration } from '../store/schema-runner.js';
import { openSqliteDatabase } from '../store/sqlite/open-sqlite-database.js';
import { applyMigrations } from '../store/sqlite/sqlite-schema-ledger.js';

export type DsarKind = 'export' | 'erase';
export type DsarState = 'pending' | 'completed' | 'failed';

/** A data subject request as its status reports it. */
export interface DsarRequest {
  id: string;
  userId: string;
  kind: DsarKind;
  state: DsarState;
  /** Who asked: 'user' or 'operator'. */
  source: string;
  createdAt: number;
  updatedAt: number;
  /** Regions that have done their part. */
  regionsDone: string[];
  error: string | null;
}

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

/**
 * The durable record of data subject requests (`<data>/dsar/requests.db`): an erasure's state
 * and the regions that have erased survive a restart, which resumes it. It holds pseudonymous
 * user ids only, and outlives the user's directory entry, as the audit entries do.
 */
export class DsarRequests {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openSqliteDatabase(file, { durability: 'full', exclusive: true });
    applyMigrations(this.db, file, migrations);
  }

  create(r: Pick<DsarRequest, 'id' | 'userId' | 'kind' | 'source'>): DsarRequest {
    const now = Date.now();
    this.db
      .prepare(
        'INSERT INTO requests (id, user_id, kind, state, source, created_at, updated_at, regions_done, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)',
      )
      .run(r.id, r.userId, r.kind, 'pending', r.source, now, now, '[]');
    return this.get(r.id)!;
  }

  get(id: string): DsarRequest | undefined {
    const row = this.db.prepare<[string], Row>('SELECT * FROM requests WHERE id = ?').get(id);
    return row && toRequest(row);
  }

  pending(): DsarRequest[] {
    return this.db
      .prepare<[], Row>("SELECT * FROM requests WHERE state = 'pending' ORDER BY created_at")
      .all()
      .map(toRequest);
  }

  update(id: string, patch: { state?: DsarState; regionsDone?: string[]; error?: string | null }): DsarRequest {
    const current = this.get(id)!;
    this.db
      .prepare('UPDATE requests SET state = ?, regions_done = ?, error = ?, updated_at = ? WHERE id = ?')
      .run(
        patch.state ?? current.state,
        JSON.stringify(patch.regionsDone ?? current.regionsDone),
        patch.error === undefined ? current.error : patch.error,
        Date.now(),
        id,
      );
    return this.get(id)!;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
