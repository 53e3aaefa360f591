import type pg from 'pg';
import { DomicileError } from '../errors/domicile-error.js';
import { openPgPool, pgWhere } from '../store/postgres/pg-pool.js';
import { openPgComponent } from '../store/postgres/pg-schema-ledger.js';
import type { SchemaMigration } from '../store/schema-runner.js';
import type { DsarKind, DsarPatch, DsarRequest, DsarState, DsarStore } from './dsar-requests.js';

/** Append-only; a ledger of their own, as the coordinator's, beside the directory's. */
const migrations: SchemaMigration[] = [
  {
    id: 1,
    name: 'data subject requests, leased',
    sql: `
    CREATE TABLE dsar_requests (
      id text PRIMARY KEY,
      user_id text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('export', 'erase')),
      state text NOT NULL CHECK (state IN ('pending', 'completed', 'failed')),
      source text NOT NULL,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      regions_done text[] NOT NULL,
      error text,
      leased_by text,
      lease_until bigint
    );
    CREATE INDEX dsar_requests_pending ON dsar_requests (created_at, id) WHERE state = 'pending';
  `,
  },
];

/** The database's clock in ms: leases are compared on one clock, whatever the gateways' own say. */
const now = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

interface Row {
  id: string;
  user_id: string;
  kind: DsarKind;
  state: DsarState;
  source: string;
  created_at: number;
  updated_at: number;
  regions_done: string[];
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
    regionsDone: r.regions_done,
    error: r.error,
  };
}

const columns = 'id, user_id, kind, state, source, created_at, updated_at, regions_done, error';

/**
 * Data subject requests in the shared PostgreSQL database beside the directory (`domicile up
 * --directory-url`): any gateway carries on an erasure another started. A pending erasure is
 * claimed with FOR UPDATE SKIP LOCKED and leased until a time on the database's clock, so two
 * gateways never work it at once and a dead gateway's lease runs out for another to take.
 */
export class PostgresDsarStore implements DsarStore {
  readonly where: string;
  private readonly pool: pg.Pool;

  private constructor(url: string, schema: string | undefined) {
    this.where = pgWhere(url);
    this.pool = openPgPool({ url, schema, size: 2, what: 'the data subject requests' });
  }

  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresDsarStore> {
    const store = new PostgresDsarStore(url, options.schema);
    return openPgComponent(store, {
      pool: store.pool,
      what: `the data subject requests at ${store.where}`,
      migrations,
      ledger: 'dsar_schema_migrations',
    });
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw new DomicileError(
        'UNAVAILABLE',
        `the data subject requests at ${this.where} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async create(
    r: Pick<DsarRequest, 'id' | 'userId' | 'kind' | 'source'>,
    holder: string,
    leaseMs: number,
  ): Promise<DsarRequest> {
    const { rows } = await this.q<Row>(
      `INSERT INTO dsar_requests (${columns}, leased_by, lease_until)
       VALUES ($1, $2, $3, 'pending', $4, ${now}, ${now}, '{}', NULL, $5, ${now} + $6) RETURNING ${columns}`,
      [r.id, r.userId, r.kind, r.source, holder, leaseMs],
    );
    return toRequest(rows[0]!);
  }

  async get(id: string): Promise<DsarRequest | undefined> {
    const { rows } = await this.q<Row>(`SELECT ${columns} FROM dsar_requests WHERE id = $1`, [id]);
    return rows[0] && toRequest(rows[0]);
  }

  async claimPending(holder: string, leaseMs: number, skip: readonly string[]): Promise<DsarRequest | undefined> {
    // The row is locked as it is chosen and skipped by a claim at the same moment; the outer
    // conditions are checked again on the row as it is when locked, so a lease taken and
    // committed meanwhile is never taken twice.
    const free = `state = 'pending' AND kind = 'erase' AND (lease_until IS NULL OR lease_until < ${now})`;
    const { rows } = await this.q<Row>(
      `UPDATE dsar_requests SET leased_by = $1, lease_until = ${now} + $2
       WHERE id = (
         SELECT id FROM dsar_requests WHERE ${free} AND NOT (id = ANY($3::text[]))
         ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
       ) AND ${free}
       RETURNING ${columns}`,
      [holder, leaseMs, [...skip]],
    );
    return rows[0] && toRequest(rows[0]);
  }

  async renew(id: string, holder: string, leaseMs: number): Promise<boolean> {
    const res = await this.q(`UPDATE dsar_requests SET lease_until = ${now} + $3 WHERE id = $1 AND leased_by = $2`, [
      id,
      holder,
      leaseMs,
    ]);
    return res.rowCount === 1;
  }

  async update(
    id: string,
    holder: string,
    patch: DsarPatch,
    lease: { release: true } | { leaseMs: number },
  ): Promise<DsarRequest | undefined> {
    const released = 'release' in lease;
    const { rows } = await this.q<Row>(
      `UPDATE dsar_requests SET
         state = COALESCE($3, state),
         regions_done = COALESCE($4::text[], regions_done),
         error = CASE WHEN $5 THEN $6 ELSE error END,
         updated_at = ${now},
         leased_by = CASE WHEN $7 THEN NULL ELSE leased_by END,
         lease_until = CASE WHEN $7 THEN NULL ELSE ${now} + $8 END
       WHERE id = $1 AND leased_by = $2
       RETURNING ${columns}`,
      [
        id,
        holder,
        patch.state ?? null,
        patch.regionsDone ?? null,
        patch.error !== undefined,
        patch.error ?? null,
        released,
        released ? 0 : lease.leaseMs,
      ],
    );
    return rows[0] && toRequest(rows[0]);
  }

  async releaseAll(holder: string): Promise<void> {
    await this.q('UPDATE dsar_requests SET leased_by = NULL, lease_until = NULL WHERE leased_by = $1', [holder]);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
