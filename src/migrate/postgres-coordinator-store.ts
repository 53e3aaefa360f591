import type pg from 'pg';
import { DomicileError } from '../errors/domicile-error.js';
import { inPgTransaction, openPgPool, pgWhere } from '../store/postgres/pg-pool.js';
import { openPgComponent } from '../store/postgres/pg-schema-ledger.js';
import {
  type BatchRow,
  batchAssignments,
  type MigrationRow,
  type TransferRow,
  toBatch,
  toMigration,
  toTransfer,
} from './coordinator-rows.js';
import { postgresCoordinatorMigrations } from './coordinator-schema.js';
import type {
  BatchMover,
  BatchPatch,
  BatchRecord,
  CoordinatorStore,
  MigrationRecord,
  NewMigration,
  TransferRecord,
} from './coordinator-store.js';
import { type BatchStep, finalStates, type MigrationSettings, type MigrationState } from './migration-types.js';
import type { MovingUser } from './moving-users.js';
import { staleLeader } from './stale-leader.js';

/** The leader's session lock: this class id, and the schema the state rests in (two states in one database lead apart). */
const leaderLockClass = 0x646f6d43;

/** Where a leader's write takes the condition on its lead token (see w). */
const leadMark = '/*lead*/';

/** Movers are inserted this many to a statement. */
const moverChunk = 5_000;

/**
 * The coordinator's state in PostgreSQL, shared by several gateway processes (`domicile up
 * --directory-url`, beside the directory). Every gateway reads it and steers through it; one at
 * a time leads and runs the migration: the one holding a session advisory lock. A leader that
 * dies, or loses its connection, loses the lock with it, and another gateway takes the lead.
 */
export class PostgresCoordinatorStore implements CoordinatorStore {
  readonly shared = true;
  readonly where: string;
  private readonly pool: pg.Pool;
  /** The lead's own connection: the lock lives as long as this session. */
  private readonly lockPool: pg.Pool;
  private leader: pg.PoolClient | undefined;
  private closed = false;
  leadToken: number | undefined;
  /** Set in a leader's view (asLeader): the token its writes are fenced by. */
  private fence: number | undefined;

  private constructor(url: string, schema: string | undefined) {
    this.where = pgWhere(url);
    this.pool = openPgPool({ url, schema, size: 4, what: "the migration coordinator's state" });
    // TCP keep-alive on the lead's idle session, so a dead peer is noticed by both ends.
    this.lockPool = openPgPool({ url, schema, size: 1, what: "the migration coordinator's lead", keepAlive: true });
  }

  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresCoordinatorStore> {
    const store = new PostgresCoordinatorStore(url, options.schema);
    return openPgComponent(store, {
      pool: store.pool,
      what: `the migration coordinator's state at ${store.where}`,
      migrations: postgresCoordinatorMigrations,
      ledger: 'coordinator_schema_migrations',
    });
  }

  /**
   * Leads if this process holds the lock. A leader asks its own session each time (a query on
   * it): a connection a network dropped without a word fails that query, and the lead is given
   * up here rather than after the server has freed the lock for another gateway.
   */
  async lead(): Promise<boolean> {
    if (this.closed) return false;
    const held = this.leader;
    if (held) {
      try {
        const { rows } = await held.query<{ held: boolean }>(
          "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid = $1 AND objid = hashtext(current_schema())::oid AND granted) AS held",
          [leaderLockClass],
        );
        if (rows[0]?.held) return true;
        this.giveUp(held, new Error('the lead lock is no longer held'));
      } catch (err) {
        this.giveUp(held, err as Error);
      }
      return false;
    }
    let client: pg.PoolClient;
    try {
      client = await this.lockPool.connect();
    } catch {
      return false;
    }
    const lost = (err: Error) => this.giveUp(client, err);
    client.on('error', lost);
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1, hashtext(current_schema())) AS locked',
        [leaderLockClass],
      );
      // Closed meanwhile: the session is ended below, and the lock with it.
      if (rows[0]?.locked && !this.closed) {
        // The new lead's token; it waits for the writes a deposed leader has in flight (each holds the row, see holdLead).
        const bumped = await client.query<{ epoch: string }>(
          'UPDATE coordinator_lead SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch',
        );
        this.leadToken = Number(bumped.rows[0]!.epoch);
        this.leader = client;
        return true;
      }
      client.off('error', lost);
      client.release(rows[0]?.locked === true);
    } catch (err) {
      client.off('error', lost);
      client.release(err as Error);
    }
    return false;
  }

  /** The lead's session is gone or doubtful: ended (its lock with it), so another gateway may lead. */
  private giveUp(client: pg.PoolClient, err: Error): void {
    if (this.leader !== client) return;
    this.leader = undefined;
    client.release(err);
  }

  asLeader(token: number): CoordinatorStore {
    // A view sharing this store's pools: only the token its writes check differs.
    const view = Object.create(this) as PostgresCoordinatorStore;
    view.fence = token;
    return view;
  }

  /**
   * In a leader's view, holds the lead token's row for the rest of the write's transaction and
   * refuses the write unless it is still this leader's: a process taking the lead raises the
   * token after such a write commits, or the write sees the raised one and is refused.
   */
  private async holdLead(client: pg.PoolClient): Promise<void> {
    if (this.fence === undefined) return;
    const { rows } = await client.query<{ epoch: string }>('SELECT epoch FROM coordinator_lead WHERE id = 1 FOR SHARE');
    const epoch = rows[0] === undefined ? undefined : Number(rows[0].epoch);
    if (epoch !== this.fence) throw staleLeader(this.fence, epoch);
  }

  /**
   * A write of one statement whose WHERE ends with `/*lead*\/`. In a leader's view that becomes
   * a condition on the lead token, which holds its row while the statement commits (as
   * holdLead does, in the same round trip); a write that changed nothing is then asked why, and
   * refused (STALE_LEADER) if the token is no longer this leader's.
   */
  private async w(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    if (this.fence === undefined) return this.q(sql.replace(leadMark, ''), params);
    const result = await this.q(
      sql.replace(
        leadMark,
        ` AND EXISTS (SELECT 1 FROM coordinator_lead WHERE id = 1 AND epoch = $${params.length + 1} FOR SHARE)`,
      ),
      [...params, this.fence],
    );
    if (result.rowCount === 0) {
      const { rows } = await this.q<{ epoch: string }>('SELECT epoch FROM coordinator_lead WHERE id = 1');
      const epoch = rows[0] === undefined ? undefined : Number(rows[0].epoch);
      if (epoch !== this.fence) throw staleLeader(this.fence, epoch);
    }
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    // The lock is let go at once, so another gateway may lead now; ending the session would
    // free it too, once the server notices. (A process that dies frees it that way.)
    const leader = this.leader;
    this.leader = undefined;
    if (leader) {
      await leader
        .query('SELECT pg_advisory_unlock($1, hashtext(current_schema()))', [leaderLockClass])
        .catch(() => undefined);
      leader.release(true);
    }
    await this.lockPool.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  private fail(err: unknown): DomicileError {
    return err instanceof DomicileError
      ? err
      : new DomicileError(
          'UNAVAILABLE',
          `the migration coordinator's state at ${this.where} failed: ${(err as Error).message}`,
          { cause: err },
        );
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw this.fail(err);
    }
  }

  private async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    try {
      return await inPgTransaction(this.pool, fn);
    } catch (err) {
      throw this.fail(err);
    }
  }

  createMigration(m: NewMigration, movers: readonly MovingUser[]): Promise<MigrationRecord | undefined> {
    const now = Date.now();
    return this.tx(async (client) => {
      // Two gateways starting at once: the second waits here, then finds the first's migration.
      await client.query('LOCK TABLE migrations IN SHARE ROW EXCLUSIVE MODE');
      const latest = (await client.query<MigrationRow>('SELECT * FROM migrations ORDER BY seq DESC LIMIT 1')).rows[0];
      if (latest && !finalStates.includes(latest.state)) return toMigration(latest);
      await client.query(
        `INSERT INTO migrations (id, created_at, updated_at, policy_name, policy_version, services, state, batch_size, rate, plan)
         VALUES ($1, $2, $2, $3, $4, $5, 'running', $6, $7, $8)`,
        [
          m.id,
          now,
          m.policy.name,
          m.policy.version,
          JSON.stringify(m.services),
          m.settings.batchSize,
          m.settings.rate,
          JSON.stringify(m.plan),
        ],
      );
      for (let start = 0; start < movers.length; start += moverChunk) {
        const chunk = movers.slice(start, start + moverChunk);
        await client.query(
          `INSERT INTO movers (migration_id, position, service, user_id, market, source, destination, epoch)
           SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])`,
          [
            m.id,
            chunk.map((_, i) => start + i),
            chunk.map((u) => u.service),
            chunk.map((u) => u.userId),
            chunk.map((u) => u.market),
            chunk.map((u) => u.from),
            chunk.map((u) => u.to),
            chunk.map((u) => u.epoch),
          ],
        );
      }
      return undefined;
    });
  }

  async latest(): Promise<MigrationRecord | undefined> {
    const row = (await this.q<MigrationRow>('SELECT * FROM migrations ORDER BY seq DESC LIMIT 1')).rows[0];
    return row && toMigration(row);
  }

  async get(id: string): Promise<MigrationRecord | undefined> {
    const row = (await this.q<MigrationRow>('SELECT * FROM migrations WHERE id = $1', [id])).rows[0];
    return row && toMigration(row);
  }

  async setState(
    id: string,
    state: MigrationState,
    opts: { from: readonly MigrationState[]; resumeState?: MigrationState | null; error?: string | null },
  ): Promise<boolean> {
    const finished = state === 'completed' || state === 'rolled-back' ? Date.now() : null;
    const changed = await this.w(
      `UPDATE migrations SET state = $1, updated_at = $2, finished_at = coalesce($3, finished_at),
         resume_state = CASE WHEN $4 THEN $5 ELSE resume_state END, error = CASE WHEN $6 THEN $7 ELSE error END
       WHERE id = $8 AND state = ANY($9::text[])/*lead*/`,
      [
        state,
        Date.now(),
        finished,
        opts.resumeState !== undefined,
        opts.resumeState ?? null,
        opts.error !== undefined,
        opts.error ?? null,
        id,
        opts.from,
      ],
    );
    return changed.rowCount === 1;
  }

  async setSettings(id: string, settings: MigrationSettings): Promise<void> {
    await this.w('UPDATE migrations SET batch_size = $1, rate = $2, updated_at = $3 WHERE id = $4/*lead*/', [
      settings.batchSize,
      settings.rate,
      Date.now(),
      id,
    ]);
  }

  formBatch(migrationId: string, size: number): Promise<BatchRecord | undefined> {
    return this.tx(async (client) => {
      await this.holdLead(client);
      // One batch formed at a time, whoever forms it.
      await client.query('SELECT 1 FROM migrations WHERE id = $1 FOR UPDATE', [migrationId]);
      const first = (
        await client.query<{ service: string; source: string; destination: string }>(
          'SELECT service, source, destination FROM movers WHERE migration_id = $1 AND batch_id IS NULL ORDER BY position LIMIT 1',
          [migrationId],
        )
      ).rows[0];
      if (!first) return undefined;
      const positions = (
        await client.query<{ position: number }>(
          'SELECT position FROM movers WHERE migration_id = $1 AND batch_id IS NULL AND service = $2 AND source = $3 AND destination = $4 ORDER BY position LIMIT $5',
          [migrationId, first.service, first.source, first.destination, size],
        )
      ).rows.map((r) => r.position);
      const id =
        Number(
          (
            await client.query<{ last: number }>(
              'SELECT coalesce(max(id), 0) AS last FROM batches WHERE migration_id = $1',
              [migrationId],
            )
          ).rows[0]?.last ?? 0,
        ) + 1;
      const now = Date.now();
      const row = (
        await client.query<BatchRow>(
          `INSERT INTO batches (migration_id, id, service, source, destination, step, users, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'copying', $6, $7, $7) RETURNING *`,
          [migrationId, id, first.service, first.source, first.destination, positions.length, now],
        )
      ).rows[0]!;
      await client.query('UPDATE movers SET batch_id = $1 WHERE migration_id = $2 AND position = ANY($3::bigint[])', [
        id,
        migrationId,
        positions,
      ]);
      return toBatch(row);
    });
  }

  async batch(migrationId: string, id: number): Promise<BatchRecord | undefined> {
    const row = (await this.q<BatchRow>('SELECT * FROM batches WHERE migration_id = $1 AND id = $2', [migrationId, id]))
      .rows[0];
    return row && toBatch(row);
  }

  async batches(migrationId: string, steps?: readonly BatchStep[]): Promise<BatchRecord[]> {
    const rows =
      steps === undefined
        ? (await this.q<BatchRow>('SELECT * FROM batches WHERE migration_id = $1 ORDER BY id', [migrationId])).rows
        : (
            await this.q<BatchRow>(
              'SELECT * FROM batches WHERE migration_id = $1 AND step = ANY($2::text[]) ORDER BY id',
              [migrationId, steps],
            )
          ).rows;
    return rows.map(toBatch);
  }

  async movers(migrationId: string, batchId: number): Promise<BatchMover[]> {
    return (
      await this.q<BatchMover>(
        'SELECT user_id AS "userId", market, epoch FROM movers WHERE migration_id = $1 AND batch_id = $2 ORDER BY position',
        [migrationId, batchId],
      )
    ).rows;
  }

  async unassigned(migrationId: string): Promise<number> {
    return (
      (
        await this.q<{ n: number }>('SELECT count(*) AS n FROM movers WHERE migration_id = $1 AND batch_id IS NULL', [
          migrationId,
        ])
      ).rows[0]?.n ?? 0
    );
  }

  async moverCount(migrationId: string): Promise<number> {
    return (
      (await this.q<{ n: number }>('SELECT count(*) AS n FROM movers WHERE migration_id = $1', [migrationId])).rows[0]
        ?.n ?? 0
    );
  }

  async updateBatch(migrationId: string, id: number, patch: BatchPatch): Promise<void> {
    const sets = batchAssignments(patch);
    if (sets.length === 0) return;
    const assignments = sets.map(([column], i) => `${column} = $${i + 1}`).join(', ');
    const n = sets.length;
    await this.w(
      `UPDATE batches SET ${assignments}, updated_at = $${n + 1} WHERE migration_id = $${n + 2} AND id = $${n + 3}/*lead*/`,
      [...sets.map(([, value]) => value), Date.now(), migrationId, id],
    );
  }

  async advanceReverse(migrationId: string, batchIds: readonly number[], seq: number): Promise<void> {
    await this.w(
      'UPDATE batches SET reverse_seq = greatest(coalesce(reverse_seq, 0), $1) WHERE migration_id = $2 AND id = ANY($3::bigint[])/*lead*/',
      [seq, migrationId, batchIds],
    );
  }

  async insertTransfer(t: TransferRecord): Promise<void> {
    await this.w(
      `INSERT INTO transfers (migration_id, batch_id, service, from_region, to_region, policy_name, policy_version, users, user_count, records, bytes, digest, completed_at)
       SELECT $1, $2::bigint, $3, $4, $5, $6, $7::bigint, $8, $9::bigint, $10::bigint, $11::bigint, $12, $13::bigint WHERE true/*lead*/ ON CONFLICT (migration_id, batch_id) DO NOTHING`,
      [
        t.migrationId,
        t.batchId,
        t.service,
        t.from,
        t.to,
        t.policy.name,
        t.policy.version,
        JSON.stringify(t.users),
        t.users.length,
        t.records,
        t.bytes,
        t.digest,
        t.completedAt,
      ],
    );
  }

  async transferCount(migrationId: string): Promise<number> {
    return (
      (await this.q<{ n: number }>('SELECT count(*) AS n FROM transfers WHERE migration_id = $1', [migrationId]))
        .rows[0]?.n ?? 0
    );
  }

  async transfers(migrationId?: string): Promise<TransferRecord[]> {
    const rows =
      migrationId === undefined
        ? (await this.q<TransferRow>('SELECT * FROM transfers ORDER BY id')).rows
        : (await this.q<TransferRow>('SELECT * FROM transfers WHERE migration_id = $1 ORDER BY id', [migrationId]))
            .rows;
    return rows.map(toTransfer);
  }
}
