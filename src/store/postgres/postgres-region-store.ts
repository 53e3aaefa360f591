import type pg from 'pg';
import { DomicileError } from '../../errors/domicile-error.js';
import { Batcher } from '../../shared/batcher.js';
import { withResidue } from '../placement-residue.js';
import type {
  AuditAppend,
  AuditRow,
  ChangeEntry,
  CheckpointRow,
  ConsentWrite,
  ImportResult,
  KeyUpgrade,
  KeyWatchEvent,
  PlacementStat,
  PurgeResult,
  RecordDelete,
  RecordImport,
  RecordPage,
  RecordRead,
  RecordWrite,
  RegionStore,
  StoredRecord,
  Tenancy,
  TenancyStatus,
  TenantExport,
  TenantState,
  WrappedKey,
  WriteResult,
} from '../region-store.js';
import { checkImportNames, checkVersion, erasedUser, liveTenancy, staleTenancy } from '../store-checks.js';
import { checkTenancy } from '../tenancy-guard.js';
import { PgKeyWatch } from './pg-key-watch.js';
import { inPgTransaction, openPgPool, pgWhere, withPgClient } from './pg-pool.js';
import { PgQueryMeter, regionStoreMeter } from './pg-query-meter.js';
import { applyPgMigrations } from './pg-schema-ledger.js';
import { postgresMigrations } from './postgres-schema.js';

export interface PostgresRegionStoreOptions {
  /** postgres://… of the region's own database (in the region's country). */
  url: string;
  /** The schema its tables live in (default public): tests give each store its own. */
  schema?: string;
  /** Pooled connections (default 10). */
  poolSize?: number;
  /** Batches of record writes on their way to the server at once (default 1; see Batcher). */
  writeBatchesInFlight?: number;
  /** Batches of record reads on their way to the server at once (default 1; see Batcher). */
  readBatchesInFlight?: number;
}

/** Held to commit by audit appends: the log grows one append at a time. */
const auditLock = 0x646f6d33;

type Q = pg.PoolClient;
interface TenancyRow {
  user_id: string;
  service: string;
  market: string;
  epoch: number;
  status: TenancyStatus;
  moved_to: string | null;
}
/** A row of write_record(): what it did ('ok') or why it refused, with what the error needs. */
interface WriteOutcome {
  outcome: 'ok' | 'tenancy' | 'requires' | 'version' | 'absent';
  has_tenancy: boolean;
  t_market: string | null;
  t_epoch: number | null;
  t_status: TenancyStatus | null;
  t_moved_to: string | null;
  found_version: number | null;
  req_version: number | null;
  new_version: number | null;
  new_seq: number | null;
}
/** A read's tenancy and record, as readBatch() answers it. */
interface ReadRow {
  market: string;
  epoch: number;
  status: TenancyStatus;
  moved_to: string | null;
  version: number | null;
  ciphertext: Buffer | null;
  updated_at: number | null;
  sealed_key: Buffer | null;
}
/** A put or delete waiting for the group commit, as write_record() takes it. */
interface PendingWrite {
  op: 'put' | 'delete';
  userId: string;
  service: string;
  collection: string;
  key: string;
  epoch: number;
  ciphertext: Buffer | null;
  sealedKey: Buffer | null;
  ifVersion: number | null;
  requires: RecordWrite['requires'] | null;
  now: number;
}
interface KeyRow {
  user_id: string;
  scope: string;
  wrapped: Buffer;
  wrapped_by: string;
  created_at: number;
}
const toKey = (r: KeyRow): WrappedKey => ({
  userId: r.user_id,
  scope: r.scope,
  wrapped: r.wrapped,
  wrappedBy: r.wrapped_by,
  createdAt: r.created_at,
});
/** The keys of ($1[i], $2[i]) pairs that exist. */
const keysOfPairs =
  'SELECT k.user_id, k.scope, k.wrapped, k.wrapped_by, k.created_at FROM keys k JOIN unnest($1::text[], $2::text[]) AS u(user_id, scope) ON k.user_id = u.user_id AND k.scope = u.scope';
interface RecordRow {
  user_id: string;
  service: string;
  collection: string;
  key: string;
  version: number;
  ciphertext: Buffer;
  updated_at: number;
  sealed_key: Buffer | null;
}
const recordColumns = 'user_id, service, collection, key, version, ciphertext, updated_at, sealed_key';
const upsertRecord = `INSERT INTO records (${recordColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (user_id, service, collection, key) DO UPDATE SET version = excluded.version, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, sealed_key = excluded.sealed_key`;

function toTenancy(row: TenancyRow | undefined): Tenancy | undefined {
  return (
    row && {
      userId: row.user_id,
      service: row.service,
      market: row.market,
      epoch: row.epoch,
      status: row.status,
      movedTo: row.moved_to,
    }
  );
}

function toRecord(row: RecordRow): StoredRecord {
  return {
    userId: row.user_id,
    service: row.service,
    collection: row.collection,
    key: row.key,
    version: row.version,
    ciphertext: row.ciphertext,
    updatedAt: row.updated_at,
    sealedKey: row.sealed_key,
  };
}

/**
 * The RegionStore of a region whose data rests in PostgreSQL (a managed or local provider's
 * cluster in the region's country): pooled connections, the schema in an append-only ledger
 * applied under an advisory lock, the change log on a sequence, and every method one
 * transaction, in which the rows it checks are locked (FOR UPDATE) so that a fence, a write
 * and a consent decision on the same user are serialised as SQLite's single writer serialises
 * them. Writes of different users do not wait for each other and share commits; a record's
 * put or delete is one statement (write_record()). Readers of the change log stop at its
 * settled end (change_log_end()), not at the newest seq, which an older one may still precede.
 * Several node processes of a region may share one database, all of one version: schema
 * migration 6 changed the locks that writers take.
 */
export class PostgresRegionStore implements RegionStore {
  readonly backend = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly where: string;
  private initialised = false;
  /** This store's statements (the process-wide regionStoreMeter counts them too). */
  readonly meter = new PgQueryMeter();
  /** Record writes share statements and commits when they arrive while others are in flight. */
  private readonly writes: Batcher<PendingWrite, WriteOutcome>;
  /** Record reads share statements the same way (one snapshot answers the batch). */
  private readonly reads: Batcher<RecordRead, ReadRow | undefined>;
  private readonly options: PostgresRegionStoreOptions;
  /** The node's watch on keys shredded by other nodes of the pool, once it asks (watchKeys). */
  private keyWatch: PgKeyWatch | undefined;

  constructor(options: PostgresRegionStoreOptions) {
    this.options = options;
    this.pool = openPgPool({
      url: options.url,
      schema: options.schema,
      size: options.poolSize ?? 10,
      what: 'a region store',
    });
    // One batch of writes in flight by default: the others wait and leave together with the
    // next. On the 2-core development machine that halved PostgreSQL's CPU per write (126 µs
    // against 220 µs with five batches in flight) and raised the gateway's writes by a third;
    // a database on a machine of its own, with cores to spare, may want more.
    // Reads likewise: with one batch in flight the gateway answered 5,000–6,000 reads/s on
    // PostgreSQL regions against 3,200–3,900 with two and 2,300–2,500 with eight, as every
    // statement wakes a server process that competes with the gateway for the same cores.
    this.writes = new Batcher((batch) => this.writeBatch(batch), {
      inFlight: options.writeBatchesInFlight ?? 1,
      maxBatch: 64,
    });
    this.reads = new Batcher((batch) => this.readBatch(batch), {
      inFlight: options.readBatchesInFlight ?? 1,
      maxBatch: 64,
    });
    this.meter.watch(this.pool);
    regionStoreMeter.watch(this.pool);
    this.where = `${pgWhere(options.url)}${options.schema ? ` (schema ${options.schema})` : ''}`;
  }

  async init(): Promise<void> {
    if (this.initialised) return;
    try {
      await applyPgMigrations(this.pool, this.where, postgresMigrations);
    } catch (err) {
      if (err instanceof DomicileError) throw err;
      throw new DomicileError(
        'UNAVAILABLE',
        `cannot open the region store at ${this.where}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.initialised = true;
  }

  async close(): Promise<void> {
    await this.keyWatch?.close();
    await this.pool.end().catch(() => undefined);
  }

  /** The server process that listens for key shreds (see PgKeyWatch.listenerPid). */
  get keyWatchPid(): number | undefined {
    return this.keyWatch?.listenerPid;
  }

  /** LISTENs on a connection of its own for the shreds announce_key_shred() notifies (migration 8). */
  async watchKeys(heard: (event: KeyWatchEvent) => void): Promise<void> {
    if (this.keyWatch) throw new Error('the region store is already watched for key shreds');
    const { url, schema } = this.options;
    this.keyWatch = new PgKeyWatch(
      { connectionString: url, ...(schema ? { options: `-c search_path=${schema}` } : {}) },
      heard,
    );
    try {
      await this.keyWatch.start();
    } catch (err) {
      this.keyWatch = undefined;
      throw new DomicileError(
        'UNAVAILABLE',
        `cannot listen for key shreds on the region store at ${this.where}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  private async q<R extends pg.QueryResultRow>(
    sql: string | { name: string; text: string },
    params: unknown[] = [],
  ): Promise<R[]> {
    try {
      return (
        await this.pool.query<R>(typeof sql === 'string' ? { text: sql, values: params } : { ...sql, values: params })
      ).rows;
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private unavailable(err: unknown): unknown {
    if (err instanceof DomicileError) return err;
    const code = (err as { code?: string }).code;
    // A connection that failed, or the server going away: the region is unavailable, not broken.
    if (code === undefined || code.startsWith('08') || code === '57P01') {
      return new DomicileError(
        'UNAVAILABLE',
        `the region store at ${this.where} cannot be reached: ${(err as Error).message}`,
        { cause: err },
      );
    }
    // Two transactions waited on each other, or a snapshot went stale: nothing was written; the caller retries.
    if (code === '40P01' || code === '40001') {
      return new DomicileError(
        'CONFLICT',
        'the region store was busy with a conflicting change to the same user: nothing was written; retry',
        { cause: err, details: { retry: true } },
      );
    }
    return err;
  }

  /** Runs fn in one transaction (READ COMMITTED, with the row locks fn takes). */
  private async tx<T>(fn: (c: Q) => Promise<T>): Promise<T> {
    try {
      return await inPgTransaction(this.pool, fn);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  /**
   * Serialises everything that changes a user's data in this region, as SQLite's single writer
   * does: taken first in every such transaction, locks in one order (no deadlock between two
   * batches), held to commit. An erasure cannot then slip between another transaction's checks
   * and its writes. Writes of different users do not wait for each other. The locks are keyed
   * in this schema's space (user_lock_space()), where change_log_end() looks for the appenders
   * still running: every transaction that appends a change entry takes them first.
   */
  private static async lockUsers(c: Q, userIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(userIds)];
    if (ids.length > 0) {
      await c.query(
        `SELECT pg_advisory_xact_lock(user_lock_space(), k)
         FROM (SELECT DISTINCT hashtext(u) & 2147483647 AS k FROM unnest($1::text[]) AS t(u)) AS l ORDER BY k`,
        [ids],
      );
    }
  }

  private static async lockedTenancy(c: Q, userId: string, service: string): Promise<Tenancy | undefined> {
    const rows = (
      await c.query<TenancyRow>(
        'SELECT user_id, service, market, epoch, status, moved_to FROM tenancies WHERE user_id = $1 AND service = $2 FOR UPDATE',
        [userId, service],
      )
    ).rows;
    return toTenancy(rows[0]);
  }

  private static async version(
    c: Q,
    userId: string,
    service: string,
    collection: string,
    key: string,
  ): Promise<number> {
    return (await PostgresRegionStore.versionRow(c, userId, service, collection, key)).version;
  }

  /** The version (0 when absent) and the sealed key of a record, locked. */
  private static async versionRow(
    c: Q,
    userId: string,
    service: string,
    collection: string,
    key: string,
  ): Promise<{ version: number; sealedKey: Buffer | null }> {
    const rows = (
      await c.query<{ version: number; sealed_key: Buffer | null }>(
        'SELECT version, sealed_key FROM records WHERE user_id = $1 AND service = $2 AND collection = $3 AND key = $4 FOR UPDATE',
        [userId, service, collection, key],
      )
    ).rows;
    return { version: rows[0]?.version ?? 0, sealedKey: rows[0]?.sealed_key ?? null };
  }

  /** Only under lockUsers of the user (change_log_end() waits for the holders of those locks). */
  private static async appendChange(
    c: Q,
    userId: string,
    service: string,
    collection: string,
    key: string,
    op: 'put' | 'delete',
    version: number,
    at: number,
    sealedKey: Buffer | null,
  ): Promise<number> {
    const rows = (
      await c.query<{ seq: number }>(
        'INSERT INTO changes (user_id, service, collection, key, op, version, at, sealed_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq',
        [userId, service, collection, key, op, version, at, sealedKey],
      )
    ).rows;
    return rows[0]!.seq;
  }

  /**
   * Deletes a category's records and its key. The deletes are logged at `logAt` when given
   * (a migration under way carries them to the destination); returns how many records went.
   */
  private static async shredCategory(
    c: Q,
    userId: string,
    service: string,
    category: string,
    logAt: number | undefined,
  ): Promise<number> {
    const gone = (
      await c.query<{ key: string; version: number; sealed_key: Buffer | null }>(
        'DELETE FROM records WHERE user_id = $1 AND service = $2 AND collection = $3 RETURNING key, version, sealed_key',
        [userId, service, category],
      )
    ).rows;
    if (logAt !== undefined)
      for (const g of gone)
        await PostgresRegionStore.appendChange(
          c,
          userId,
          service,
          category,
          g.key,
          'delete',
          g.version,
          logAt,
          g.sealed_key,
        );
    await c.query('DELETE FROM keys WHERE user_id = $1 AND scope = $2', [userId, `${service}/${category}`]);
    return gone.length;
  }

  /**
   * The sequence's last value, not max(seq): purging a moved user's newest entries must not move
   * the log's end back. Not waited for: inside a transaction that holds users' locks, waiting
   * for other holders could close a cycle. Readers use lastSeq(), which waits.
   */
  private static async sequenceEndIn(c: Q): Promise<number> {
    const rows = (
      await c.query<{ last: number }>(
        "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('changes', 'seq')::regclass), 0) AS last",
      )
    ).rows;
    return rows[0]!.last;
  }

  /** ERASED-style CONFLICT naming the first of `userIds` that was erased here, if any. */
  private static async refuseAnyErased(c: Q, userIds: readonly string[], what: string): Promise<void> {
    const erased = (
      await c.query<{ user_id: string }>('SELECT user_id FROM erased_users WHERE user_id = ANY($1::text[])', [userIds])
    ).rows;
    if (erased.length === 0) return;
    const gone = new Set(erased.map((r) => r.user_id));
    throw erasedUser(userIds.find((u) => gone.has(u))!, what);
  }

  /** The stored tenancies of these (user, service) pairs, locked in one order, by `user NUL service`. */
  private static async lockedTenancies(
    c: Q,
    refs: ReadonlyArray<{ userId: string; service: string }>,
  ): Promise<Map<string, { epoch: number; status: TenancyStatus }>> {
    const rows = (
      await c.query<{ user_id: string; service: string; epoch: number; status: TenancyStatus }>(
        `SELECT t.user_id, t.service, t.epoch, t.status FROM tenancies t JOIN unnest($1::text[], $2::text[]) AS u(user_id, service)
       ON t.user_id = u.user_id AND t.service = u.service ORDER BY t.user_id, t.service FOR UPDATE OF t`,
        [refs.map((r) => r.userId), refs.map((r) => r.service)],
      )
    ).rows;
    return new Map(rows.map((r) => [`${r.user_id}\u0000${r.service}`, { epoch: r.epoch, status: r.status }]));
  }

  private static async refuseErased(c: Q, userId: string, what: string): Promise<void> {
    if ((await c.query('SELECT 1 FROM erased_users WHERE user_id = $1', [userId])).rowCount)
      throw erasedUser(userId, what);
  }

  private static async appendAuditIn(c: Q, append: AuditAppend): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock($1)', [auditLock]);
    const last = (await c.query<{ last: number }>('SELECT coalesce(max(seq), 0) AS last FROM audit_entries')).rows[0]!
      .last;
    const first = append.entries[0]?.seq ?? last + 1;
    if (first !== last + 1 || append.checkpoint.size !== last + append.entries.length) {
      throw new DomicileError(
        'CONFLICT',
        `the audit log holds ${last} entries: an append from seq ${first} with a checkpoint of size ${append.checkpoint.size} does not continue it`,
        { details: { auditSize: last } },
      );
    }
    for (const e of append.entries) {
      if (
        e.eventId !== null &&
        (await c.query('SELECT 1 FROM audit_entries WHERE event_id = $1', [e.eventId])).rowCount
      ) {
        throw new DomicileError('CONFLICT', `the audit log already records event ${e.eventId}`, {
          details: { eventId: e.eventId },
        });
      }
      await c.query('INSERT INTO audit_entries (seq, event_id, type, entry, leaf_hash) VALUES ($1, $2, $3, $4, $5)', [
        e.seq,
        e.eventId,
        e.type,
        e.entry,
        e.leafHash,
      ]);
    }
    const k = append.checkpoint;
    await c.query('INSERT INTO audit_checkpoints (size, root, at, signature) VALUES ($1, $2, $3, $4)', [
      k.size,
      k.root,
      k.at,
      k.signature,
    ]);
  }

  async getTenancy(userId: string, service: string): Promise<Tenancy | undefined> {
    return toTenancy(
      (
        await this.q<TenancyRow>(
          'SELECT user_id, service, market, epoch, status, moved_to FROM tenancies WHERE user_id = $1 AND service = $2',
          [userId, service],
        )
      )[0],
    );
  }

  async putTenancy(t: Tenancy): Promise<void> {
    await this.tx(async (c) => {
      await PostgresRegionStore.lockUsers(c, [t.userId]);
      await PostgresRegionStore.refuseErased(c, t.userId, 'give a tenancy to');
      await c.query(
        `INSERT INTO tenancies (user_id, service, market, epoch, status, moved_to) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id, service) DO UPDATE SET market = excluded.market, epoch = excluded.epoch, status = excluded.status, moved_to = excluded.moved_to`,
        [t.userId, t.service, t.market, t.epoch, t.status, t.movedTo],
      );
    });
  }

  async listTenancies(service?: string): Promise<Tenancy[]> {
    const rows =
      service === undefined
        ? await this.q<TenancyRow>(
            'SELECT user_id, service, market, epoch, status, moved_to FROM tenancies ORDER BY user_id COLLATE "C", service COLLATE "C"',
          )
        : await this.q<TenancyRow>(
            'SELECT user_id, service, market, epoch, status, moved_to FROM tenancies WHERE service = $1 ORDER BY user_id COLLATE "C"',
            [service],
          );
    return rows.map((r) => toTenancy(r)!);
  }

  async getKey(userId: string, scope: string): Promise<WrappedKey | undefined> {
    const row = (
      await this.q<KeyRow>(
        'SELECT user_id, scope, wrapped, wrapped_by, created_at FROM keys WHERE user_id = $1 AND scope = $2',
        [userId, scope],
      )
    )[0];
    return row && toKey(row);
  }

  async getKeys(refs: ReadonlyArray<{ userId: string; scope: string }>): Promise<WrappedKey[]> {
    if (refs.length === 0) return [];
    return (await this.q<KeyRow>(keysOfPairs, [refs.map((r) => r.userId), refs.map((r) => r.scope)])).map(toKey);
  }

  /** In four statements whatever the batch: a copy's keys are made for a batch of users at once. */
  async putKeysIfAbsent(keys: readonly WrappedKey[]): Promise<WrappedKey[]> {
    if (keys.length === 0) return [];
    return this.tx(async (c) => {
      const userIds = keys.map((k) => k.userId);
      await PostgresRegionStore.lockUsers(c, userIds);
      // A key for an erased user would wrap nothing and outlive the erasure: refused.
      const erased = new Set(
        (
          await c.query<{ user_id: string }>('SELECT user_id FROM erased_users WHERE user_id = ANY($1::text[])', [
            userIds,
          ])
        ).rows.map((r) => r.user_id),
      );
      const refused = keys.find((k) => erased.has(k.userId));
      if (refused) throw erasedUser(refused.userId, 'make a key for');
      await c.query(
        `INSERT INTO keys (user_id, scope, wrapped, wrapped_by, created_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::bigint[]) ON CONFLICT (user_id, scope) DO NOTHING`,
        [
          userIds,
          keys.map((k) => k.scope),
          keys.map((k) => k.wrapped),
          keys.map((k) => k.wrappedBy),
          keys.map((k) => k.createdAt),
        ],
      );
      const rows = (await c.query<KeyRow>(keysOfPairs, [userIds, keys.map((k) => k.scope)])).rows;
      const stored = new Map(rows.map((r) => [`${r.user_id}\u0000${r.scope}`, r]));
      return keys.map((k) => {
        const row = stored.get(`${k.userId}\u0000${k.scope}`);
        if (!row)
          throw new DomicileError(
            'INTERNAL',
            `key ${k.scope || '(user)'} of user ${k.userId} vanished while it was stored`,
          );
        return toKey(row);
      });
    });
  }

  async deleteKeys(userId: string, scopePrefix?: string): Promise<number> {
    const rows =
      scopePrefix === undefined
        ? await this.q('DELETE FROM keys WHERE user_id = $1 RETURNING 1', [userId])
        : await this.q('DELETE FROM keys WHERE user_id = $1 AND left(scope, length($2)) = $2 RETURNING 1', [
            userId,
            scopePrefix,
          ]);
    return rows.length;
  }

  /** In three statements whatever the batch's size: a cut-over's fence and flip are one round trip each, not one per user. */
  async advanceTenancies(tenancies: readonly Tenancy[]): Promise<void> {
    if (tenancies.length === 0) return;
    await this.tx(async (c) => {
      const userIds = tenancies.map((t) => t.userId);
      await PostgresRegionStore.lockUsers(c, userIds);
      await PostgresRegionStore.refuseAnyErased(c, userIds, 'give a tenancy to');
      const stored = await PostgresRegionStore.lockedTenancies(c, tenancies);
      for (const t of tenancies) {
        const epoch = stored.get(`${t.userId}\u0000${t.service}`)?.epoch;
        if (epoch !== undefined && epoch > t.epoch) throw staleTenancy(t, epoch);
      }
      await c.query(
        `INSERT INTO tenancies (user_id, service, market, epoch, status, moved_to)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
         ON CONFLICT (user_id, service) DO UPDATE SET market = excluded.market, epoch = excluded.epoch, status = excluded.status, moved_to = excluded.moved_to`,
        [
          userIds,
          tenancies.map((t) => t.service),
          tenancies.map((t) => t.market),
          tenancies.map((t) => t.epoch),
          tenancies.map((t) => t.status),
          tenancies.map((t) => t.movedTo),
        ],
      );
    });
  }

  async getRecord(userId: string, service: string, collection: string, key: string): Promise<StoredRecord | undefined> {
    const row = (
      await this.q<RecordRow>(
        `SELECT ${recordColumns} FROM records WHERE user_id = $1 AND service = $2 AND collection = $3 AND key = $4`,
        [userId, service, collection, key],
      )
    )[0];
    return row && toRecord(row);
  }

  async unsealedRecords(limit: number): Promise<StoredRecord[]> {
    return (
      await this.q<RecordRow>(`SELECT ${recordColumns} FROM records WHERE sealed_key IS NULL LIMIT $1`, [limit])
    ).map(toRecord);
  }

  async unsealedChanges(limit: number): Promise<ChangeEntry[]> {
    const rows = await this.q<{
      seq: number;
      user_id: string;
      service: string;
      collection: string;
      key: string;
      op: 'put' | 'delete';
      version: number;
      at: number;
      sealed_key: Buffer | null;
    }>(
      'SELECT seq, user_id, service, collection, key, op, version, at, sealed_key FROM changes WHERE sealed_key IS NULL ORDER BY seq LIMIT $1',
      [limit],
    );
    return rows.map((r) => ({
      seq: r.seq,
      userId: r.user_id,
      service: r.service,
      collection: r.collection,
      key: r.key,
      op: r.op,
      version: r.version,
      at: r.at,
      sealedKey: r.sealed_key,
    }));
  }

  async upgradeKeys(u: KeyUpgrade): Promise<void> {
    await this.tx(async (c) => {
      await PostgresRegionStore.lockUsers(
        c,
        u.records.map((r) => r.userId),
      );
      for (const r of u.records) {
        await c.query(
          'UPDATE records SET key = $1, sealed_key = $2, ciphertext = $3 WHERE user_id = $4 AND service = $5 AND collection = $6 AND key = $7 AND sealed_key IS NULL',
          [r.key, r.sealedKey, r.ciphertext, r.userId, r.service, r.collection, r.oldKey],
        );
      }
      for (const ch of u.changes)
        await c.query('UPDATE changes SET key = $1, sealed_key = $2 WHERE seq = $3', [ch.key, ch.sealedKey, ch.seq]);
      if (u.dropChanges.length > 0) await c.query('DELETE FROM changes WHERE seq = ANY($1::bigint[])', [u.dropChanges]);
    });
  }

  async countUnsealedKeys(): Promise<number> {
    return (
      await this.q<{ n: number }>(
        'SELECT ((SELECT count(*) FROM records WHERE sealed_key IS NULL) + (SELECT count(*) FROM changes WHERE sealed_key IS NULL))::int AS n',
      )
    )[0]!.n;
  }

  async listRecords(userId: string, service: string, collection?: string, page?: RecordPage): Promise<StoredRecord[]> {
    const rows =
      collection === undefined
        ? await this.q<RecordRow>(
            `SELECT ${recordColumns} FROM records WHERE user_id = $1 AND service = $2 ORDER BY collection COLLATE "C", key COLLATE "C"`,
            [userId, service],
          )
        : page === undefined
          ? await this.q<RecordRow>(
              `SELECT ${recordColumns} FROM records WHERE user_id = $1 AND service = $2 AND collection = $3 ORDER BY key COLLATE "C"`,
              [userId, service, collection],
            )
          : await this.q<RecordRow>(
              `SELECT ${recordColumns} FROM records WHERE user_id = $1 AND service = $2 AND collection = $3 AND key COLLATE "C" > $4
             AND (NOT $5::boolean OR strpos(key, '~') = 0) ORDER BY key COLLATE "C" LIMIT $6`,
              [userId, service, collection, page.after ?? '', page.withoutParts ?? false, page.limit],
            );
    return rows.map(toRecord);
  }

  /** One statement whatever the batch. */
  async tenantsOf(service: string, userIds: readonly string[]): Promise<TenantState[]> {
    if (userIds.length === 0) return [];
    const rows = await this.q<TenancyRow & { asked: string; erased: boolean }>(
      `SELECT u.user_id AS asked, e.user_id IS NOT NULL AS erased, t.user_id, t.service, t.market, t.epoch, t.status, t.moved_to
       FROM unnest($1::text[]) WITH ORDINALITY AS u(user_id, n)
       LEFT JOIN erased_users e ON e.user_id = u.user_id
       LEFT JOIN tenancies t ON t.user_id = u.user_id AND t.service = $2
       ORDER BY u.n`,
      [[...userIds], service],
    );
    return rows.map((t) => ({
      userId: t.asked,
      erased: t.erased,
      tenancy: t.user_id === null ? undefined : toTenancy(t),
    }));
  }

  /** Two statements whatever the batch: the users' erasures and tenancies, then all their records. */
  async exportTenants(service: string, userIds: readonly string[]): Promise<TenantExport[]> {
    if (userIds.length === 0) return [];
    const ids = [...userIds];
    const tenants = await this.tenantsOf(service, ids);
    const records = new Map<string, StoredRecord[]>();
    for (const row of await this.q<RecordRow>(
      `SELECT ${recordColumns} FROM records WHERE user_id = ANY($1::text[]) AND service = $2 ORDER BY user_id COLLATE "C", collection COLLATE "C", key COLLATE "C"`,
      [ids, service],
    )) {
      const list = records.get(row.user_id) ?? [];
      list.push(toRecord(row));
      records.set(row.user_id, list);
    }
    return tenants.map((t) => ({ ...t, records: records.get(t.userId) ?? [] }));
  }

  async recordsOfCollection(collection: string): Promise<StoredRecord[]> {
    return (
      await this.q<RecordRow>(
        `SELECT ${recordColumns} FROM records WHERE collection = $1 ORDER BY user_id COLLATE "C", service COLLATE "C", key COLLATE "C"`,
        [collection],
      )
    ).map(toRecord);
  }

  async readRecord(read: RecordRead): Promise<StoredRecord | undefined> {
    const { userId, service, collection, key } = read;
    const row = await this.reads.submit(read);
    checkTenancy(
      row && { userId, service, market: row.market, epoch: row.epoch, status: row.status, movedTo: row.moved_to },
      userId,
      service,
      read.epoch,
    );
    if (row?.version == null || row.ciphertext === null || row.updated_at === null) return undefined;
    return {
      userId,
      service,
      collection,
      key,
      version: row.version,
      ciphertext: row.ciphertext,
      updatedAt: row.updated_at,
      sealedKey: row.sealed_key,
    };
  }

  /**
   * The reads' statement: each read's tenancy and record, one row per read (absent tenancy:
   * market null), a lone read and a batch alike; prepared once per connection, as a read is the
   * hottest statement and its plan never changes.
   */
  private async readBatch(batch: RecordRead[]): Promise<Array<ReadRow | undefined>> {
    const rows = await this.q<ReadRow & { n: number; market: string | null }>(
      {
        name: 'domicile-read-records',
        text: `SELECT u.n, t.market, t.epoch, t.status, t.moved_to, r.version, r.ciphertext, r.updated_at, r.sealed_key
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(user_id, service, collection, key, n)
          LEFT JOIN tenancies t ON t.user_id = u.user_id AND t.service = u.service
          LEFT JOIN records r ON t.market IS NOT NULL AND r.user_id = u.user_id AND r.service = u.service AND r.collection = u.collection AND r.key = u.key`,
      },
      [
        batch.map((r) => r.userId),
        batch.map((r) => r.service),
        batch.map((r) => r.collection),
        batch.map((r) => r.key),
      ],
    );
    const answers = new Array<ReadRow | undefined>(batch.length);
    for (const r of rows) answers[r.n - 1] = r.market === null ? undefined : r;
    if (rows.length !== batch.length)
      throw new DomicileError(
        'INTERNAL',
        `the region store at ${this.where} answered ${rows.length} rows to a batch of ${batch.length} reads`,
      );
    return answers;
  }

  /** One round trip: write_record() (schema migration 6) does the checks, the write and the change entry in one statement. */
  async writeRecord(w: RecordWrite): Promise<WriteResult> {
    const now = Date.now();
    const r = await this.writeOnce('put', w, w.ciphertext, w.sealedKey ?? null, w.requires, now);
    if (r.outcome === 'requires') {
      const req = w.requires!;
      throw new DomicileError(
        'CONFLICT',
        `record ${w.service}/${req.collection}/${req.key} of user ${w.userId} changed (version ${r.req_version}, not ${req.version}) while the write was prepared: retry`,
        {
          details: { requires: req, version: r.req_version },
        },
      );
    }
    return { version: r.new_version!, seq: r.new_seq!, updatedAt: now };
  }

  async deleteRecord(d: RecordDelete): Promise<WriteResult | undefined> {
    const now = Date.now();
    const r = await this.writeOnce('delete', d, null, null, undefined, now);
    if (r.outcome === 'absent') return undefined;
    return { version: r.new_version!, seq: r.new_seq!, updatedAt: now };
  }

  /**
   * Hands a write to the group commit (see writeBatch) and answers a refusal with the error the
   * checks give: the tenancy's (checkTenancy) and the version's (checkVersion). 'requires' and
   * 'absent' are left to the caller.
   */
  private async writeOnce(
    op: 'put' | 'delete',
    w: RecordDelete,
    ciphertext: Buffer | null,
    sealedKey: Buffer | null,
    requires: RecordWrite['requires'],
    now: number,
  ): Promise<WriteOutcome> {
    const r = await this.writes.submit({
      op,
      userId: w.userId,
      service: w.service,
      collection: w.collection,
      key: w.key,
      epoch: w.epoch,
      ciphertext,
      sealedKey,
      ifVersion: w.ifVersion ?? null,
      requires: requires ?? null,
      now,
    });
    if (r.outcome === 'tenancy') {
      const t = r.has_tenancy
        ? {
            userId: w.userId,
            service: w.service,
            market: r.t_market!,
            epoch: r.t_epoch!,
            status: r.t_status!,
            movedTo: r.t_moved_to,
          }
        : undefined;
      checkTenancy(t, w.userId, w.service, w.epoch);
      throw new DomicileError(
        'INTERNAL',
        `the region store at ${this.where} refused a write of user ${w.userId} on a tenancy that serves it`,
      );
    }
    if (r.outcome === 'version') {
      checkVersion(w, r.found_version!);
      throw new DomicileError(
        'INTERNAL',
        `the region store at ${this.where} refused a write of user ${w.userId} at the version asked`,
      );
    }
    return r;
  }

  /**
   * The group commit's statement: a lone write is write_record() (prepared once per connection),
   * several are write_records() (schema migration 7), one statement and one commit for all. A
   * batch the server refuses as a whole (a deadlock with a purge, say) was rolled back entirely,
   * and its writes are tried again one by one, so that one write's trouble is not its
   * neighbours'; a batch whose connection failed is not, as it may have committed.
   */
  private async writeBatch(batch: PendingWrite[]): Promise<WriteOutcome[]> {
    if (batch.length === 1) return [await this.writeOne(batch[0]!)];
    const col = <K extends keyof PendingWrite>(k: K) => batch.map((w) => w[k]);
    let rows: Array<WriteOutcome & { n: number }>;
    try {
      rows = (
        await this.pool.query<WriteOutcome & { n: number }>({
          name: 'domicile-write-records',
          text: `SELECT n, outcome, has_tenancy, t_market, t_epoch, t_status, t_moved_to, found_version, req_version, new_version, new_seq
          FROM write_records($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bytea[], $8::bytea[], $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::bigint[])`,
          values: [
            col('op'),
            col('userId'),
            col('service'),
            col('collection'),
            col('key'),
            col('epoch'),
            col('ciphertext'),
            col('sealedKey'),
            col('ifVersion'),
            batch.map((w) => w.requires?.collection ?? null),
            batch.map((w) => w.requires?.key ?? null),
            batch.map((w) => w.requires?.version ?? null),
            col('now'),
          ],
        })
      ).rows;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === undefined || code.startsWith('08') || code === '57P01') throw this.unavailable(err);
      return Promise.all(batch.map((w) => this.writeOne(w)));
    }
    const answers: WriteOutcome[] = [];
    for (const r of rows) answers[r.n - 1] = r;
    if (rows.length !== batch.length || answers.some((a) => a === undefined)) {
      throw new DomicileError(
        'INTERNAL',
        `the region store at ${this.where} answered ${rows.length} of a batch of ${batch.length} writes`,
      );
    }
    return answers;
  }

  private async writeOne(w: PendingWrite): Promise<WriteOutcome> {
    const rows = await this.q<WriteOutcome>(
      {
        name: 'domicile-write-record',
        text: 'SELECT outcome, has_tenancy, t_market, t_epoch, t_status, t_moved_to, found_version, req_version, new_version, new_seq FROM write_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
      },
      [
        w.op,
        w.userId,
        w.service,
        w.collection,
        w.key,
        w.epoch,
        w.ciphertext,
        w.sealedKey,
        w.ifVersion,
        w.requires?.collection ?? null,
        w.requires?.key ?? null,
        w.requires?.version ?? null,
        w.now,
      ],
    );
    const r = rows[0];
    if (!r) throw new DomicileError('INTERNAL', `the region store at ${this.where} answered a write with nothing`);
    return r;
  }

  async purgeUser(userId: string, service?: string): Promise<number> {
    const rows =
      service === undefined
        ? await this.q('DELETE FROM records WHERE user_id = $1 RETURNING 1', [userId])
        : await this.q('DELETE FROM records WHERE user_id = $1 AND service = $2 RETURNING 1', [userId, service]);
    return rows.length;
  }

  /**
   * A batch in a constant number of statements whatever it holds: the users' checks, tenancies,
   * puts, deletes and change entries each one statement over arrays (unnest), across users.
   * A user listed twice is imported in a second round, after the first (one statement cannot
   * change one row twice).
   */
  async importRecords(imports: readonly RecordImport[]): Promise<ImportResult> {
    const now = Date.now();
    for (const b of imports) checkImportNames(b);
    return this.tx(async (c) => {
      await PostgresRegionStore.lockUsers(
        c,
        imports.map((i) => i.userId),
      );
      let applied = 0;
      for (const round of PostgresRegionStore.rounds(imports))
        applied += await PostgresRegionStore.importRound(c, round, now);
      return { applied, lastSeq: await PostgresRegionStore.sequenceEndIn(c) };
    });
  }

  /** Imports split so that no (user, service) appears twice in one. */
  private static rounds(imports: readonly RecordImport[]): RecordImport[][] {
    const rounds: RecordImport[][] = [];
    let round: RecordImport[] = [];
    let seen = new Set<string>();
    for (const b of imports) {
      const id = `${b.userId}\u0000${b.service}`;
      if (seen.has(id)) {
        rounds.push(round);
        round = [];
        seen = new Set();
      }
      seen.add(id);
      round.push(b);
    }
    if (round.length > 0) rounds.push(round);
    return rounds;
  }

  private static async importRound(c: Q, imports: readonly RecordImport[], now: number): Promise<number> {
    await PostgresRegionStore.refuseAnyErased(
      c,
      imports.map((b) => b.userId),
      'import into',
    );
    const found = await PostgresRegionStore.lockedTenancies(c, imports);
    const statusOf = (b: { userId: string; service: string }) => found.get(`${b.userId}\u0000${b.service}`)?.status;
    for (const b of imports) if (statusOf(b) === 'home') throw liveTenancy(b.userId, b.service, 'home', 'import into');
    const fresh = imports.filter((b) => statusOf(b) === undefined);
    if (fresh.length > 0) {
      await c.query(
        `INSERT INTO tenancies (user_id, service, market, epoch, status, moved_to)
         SELECT u.user_id, u.service, u.market, u.epoch, 'incoming', NULL FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(user_id, service, market, epoch)
         ON CONFLICT (user_id, service) DO NOTHING`,
        [
          fresh.map((b) => b.userId),
          fresh.map((b) => b.service),
          fresh.map((b) => b.market),
          fresh.map((b) => b.epoch),
        ],
      );
    }
    // An incoming copy is served by nobody and tailed by nobody, so its rows are not logged.
    const logged = (r: { user_id: string; service: string }) => {
      const s = statusOf({ userId: r.user_id, service: r.service });
      return s !== undefined && s !== 'incoming';
    };
    type Changed = {
      user_id: string;
      service: string;
      collection: string;
      key: string;
      version: number;
      sealed_key: Buffer | null;
    };
    const puts = imports.flatMap((b) => b.puts.map((p) => ({ b, p })));
    // One statement for all the puts: a row already at the same version and ciphertext is left
    // as it is (and not returned), so a state applied twice changes and logs nothing.
    // The ciphertexts travel as one binary parameter, cut apart by their lengths in the server:
    // node-postgres sends a bytea[] as hex text, twice the bytes, built and parsed on both sides.
    const put =
      puts.length === 0
        ? []
        : (
            await c.query<Changed>(
              `INSERT INTO records (${recordColumns})
       SELECT u.user_id, u.service, u.collection, u.key, u.version, substring($9::bytea FROM (u.ends - u.len + 1)::int FOR u.len), u.updated_at, u.sealed_key
       FROM (SELECT v.*, sum(v.len) OVER (ORDER BY v.n) AS ends
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::bigint[], $8::bytea[]) WITH ORDINALITY
               AS v(user_id, service, collection, key, version, len, updated_at, sealed_key, n)) u
       ON CONFLICT (user_id, service, collection, key) DO UPDATE SET version = excluded.version, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, sealed_key = excluded.sealed_key
       WHERE records.version IS DISTINCT FROM excluded.version OR records.ciphertext IS DISTINCT FROM excluded.ciphertext
       RETURNING user_id, service, collection, key, version, sealed_key`,
              [
                puts.map((x) => x.b.userId),
                puts.map((x) => x.b.service),
                puts.map((x) => x.p.collection),
                puts.map((x) => x.p.key),
                puts.map((x) => x.p.version),
                puts.map((x) => x.p.ciphertext.length),
                puts.map((x) => x.p.updatedAt),
                puts.map((x) => x.p.sealedKey ?? null),
                Buffer.concat(puts.map((x) => x.p.ciphertext)),
              ],
            )
          ).rows;
    const deletes = imports.flatMap((b) => b.deletes.map((d) => ({ b, d })));
    const gone =
      deletes.length === 0
        ? []
        : (
            await c.query<Changed>(
              `DELETE FROM records r USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(user_id, service, collection, key)
       WHERE r.user_id = t.user_id AND r.service = t.service AND r.collection = t.collection AND r.key = t.key
       RETURNING r.user_id, r.service, r.collection, r.key, r.version, r.sealed_key`,
              [
                deletes.map((x) => x.b.userId),
                deletes.map((x) => x.b.service),
                deletes.map((x) => x.d.collection),
                deletes.map((x) => x.d.key),
              ],
            )
          ).rows;
    await PostgresRegionStore.appendChanges(
      c,
      [
        ...put.filter(logged).map((r) => ({ ...r, op: 'put' as const })),
        ...gone.filter(logged).map((r) => ({ ...r, op: 'delete' as const })),
      ],
      now,
    );
    let applied = put.length + gone.length;
    for (const b of imports) {
      for (const category of b.shred ?? [])
        applied += await PostgresRegionStore.shredCategory(
          c,
          b.userId,
          b.service,
          category,
          logged({ user_id: b.userId, service: b.service }) ? now : undefined,
        );
    }
    return applied;
  }

  /**
   * Many change entries in one statement, in the order given (per key, the order they happened).
   * Only under lockUsers of every user named (change_log_end() waits for the holders of those locks).
   */
  private static async appendChanges(
    c: Q,
    entries: ReadonlyArray<{
      user_id: string;
      service: string;
      collection: string;
      key: string;
      op: 'put' | 'delete';
      version: number;
      sealed_key: Buffer | null;
    }>,
    at: number,
  ): Promise<void> {
    if (entries.length === 0) return;
    await c.query(
      `INSERT INTO changes (user_id, service, collection, key, op, version, at, sealed_key)
       SELECT e.user_id, e.service, e.collection, e.key, e.op, e.version, $7, e.sealed_key
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $8::bytea[]) WITH ORDINALITY AS e(user_id, service, collection, key, op, version, sealed_key, n)
       ORDER BY e.n`,
      [
        entries.map((e) => e.user_id),
        entries.map((e) => e.service),
        entries.map((e) => e.collection),
        entries.map((e) => e.key),
        entries.map((e) => e.op),
        entries.map((e) => e.version),
        at,
        entries.map((e) => e.sealed_key),
      ],
    );
  }

  /** In a constant number of statements whatever the batch: each table's rows of all the users at once. */
  async purgeTenants(service: string, userIds: readonly string[], audit?: AuditAppend): Promise<PurgeResult> {
    return this.tx(async (c) => {
      const ids = [...userIds];
      await PostgresRegionStore.lockUsers(c, ids);
      const live = (
        await c.query<{ user_id: string; status: TenancyStatus }>(
          'SELECT user_id, status FROM tenancies WHERE user_id = ANY($1::text[]) AND service = $2 ORDER BY user_id FOR UPDATE',
          [ids, service],
        )
      ).rows.filter((t) => t.status === 'home' || t.status === 'fenced');
      if (live.length > 0) {
        const first = ids.find((u) => live.some((t) => t.user_id === u))!;
        throw liveTenancy(first, service, live.find((t) => t.user_id === first)!.status, 'purge');
      }
      const total = { records: 0, keys: 0, changes: 0, tenancies: 0 };
      total.records =
        (await c.query('DELETE FROM records WHERE user_id = ANY($1::text[]) AND service = $2', [ids, service]))
          .rowCount ?? 0;
      total.keys =
        (
          await c.query('DELETE FROM keys WHERE user_id = ANY($1::text[]) AND left(scope, length($2)) = $2', [
            ids,
            `${service}/`,
          ])
        ).rowCount ?? 0;
      total.changes =
        (await c.query('DELETE FROM changes WHERE user_id = ANY($1::text[]) AND service = $2', [ids, service]))
          .rowCount ?? 0;
      total.tenancies =
        (await c.query('DELETE FROM tenancies WHERE user_id = ANY($1::text[]) AND service = $2', [ids, service]))
          .rowCount ?? 0;
      // A user key goes when no other key of the user is left and no other tenancy may make one.
      total.keys +=
        (
          await c.query(
            `DELETE FROM keys k WHERE k.user_id = ANY($1::text[]) AND k.scope = ''
           AND NOT EXISTS (SELECT 1 FROM keys o WHERE o.user_id = k.user_id AND o.scope <> '')
           AND NOT EXISTS (SELECT 1 FROM tenancies t WHERE t.user_id = k.user_id AND t.service <> $2 AND t.status IN ('home', 'fenced', 'incoming'))`,
            [ids, service],
          )
        ).rowCount ?? 0;
      if (audit) await PostgresRegionStore.appendAuditIn(c, audit);
      return total;
    });
  }

  async decideConsent(w: ConsentWrite): Promise<WriteResult> {
    const now = Date.now();
    return this.tx(async (c) => {
      await PostgresRegionStore.lockUsers(c, [w.userId]);
      checkTenancy(await PostgresRegionStore.lockedTenancy(c, w.userId, w.service), w.userId, w.service, w.epoch);
      const current = await PostgresRegionStore.version(c, w.userId, w.service, w.collection, w.key);
      checkVersion(w, current);
      const version = current + 1;
      await c.query(upsertRecord, [
        w.userId,
        w.service,
        w.collection,
        w.key,
        version,
        w.ciphertext,
        now,
        w.sealedKey ?? null,
      ]);
      const seq = await PostgresRegionStore.appendChange(
        c,
        w.userId,
        w.service,
        w.collection,
        w.key,
        'put',
        version,
        now,
        w.sealedKey ?? null,
      );
      for (const category of w.shred) await PostgresRegionStore.shredCategory(c, w.userId, w.service, category, now);
      await PostgresRegionStore.appendAuditIn(c, w.audit);
      return { version, seq, updatedAt: now };
    });
  }

  async eraseUser(userId: string, audit: AuditAppend): Promise<{ records: number; keys: number; tenancies: number }> {
    return this.tx(async (c) => {
      await PostgresRegionStore.lockUsers(c, [userId]);
      // The tombstone first: anything waiting on the user's lock finds it once this commits.
      await c.query('INSERT INTO erased_users (user_id, at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING', [
        userId,
        Date.now(),
      ]);
      const records = (await c.query('DELETE FROM records WHERE user_id = $1', [userId])).rowCount ?? 0;
      const keys = (await c.query('DELETE FROM keys WHERE user_id = $1', [userId])).rowCount ?? 0;
      const tenancies = (await c.query('DELETE FROM tenancies WHERE user_id = $1', [userId])).rowCount ?? 0;
      await c.query('DELETE FROM changes WHERE user_id = $1', [userId]);
      await PostgresRegionStore.appendAuditIn(c, audit);
      return { records, keys, tenancies };
    });
  }

  async admitFence(migrationId: string, token: number): Promise<number> {
    // A read while the token is the newest: a write here would cost a WAL flush per primitive.
    const read = await this.q<{ token: string }>('SELECT token FROM migration_fences WHERE migration_id = $1', [
      migrationId,
    ]);
    const stored = read[0] === undefined ? undefined : Number(read[0].token);
    if (stored !== undefined && stored >= token) return stored;
    const raised = await this.q<{ token: string }>(
      'INSERT INTO migration_fences (migration_id, token) VALUES ($1, $2) ON CONFLICT (migration_id) DO UPDATE SET token = greatest(migration_fences.token, excluded.token) RETURNING token',
      [migrationId, token],
    );
    return Number(raised[0]!.token);
  }

  async isErased(userId: string): Promise<boolean> {
    return (await this.q('SELECT 1 FROM erased_users WHERE user_id = $1', [userId])).length > 0;
  }

  async appendAudit(append: AuditAppend): Promise<void> {
    await this.tx((c) => PostgresRegionStore.appendAuditIn(c, append));
  }

  async auditPage(
    afterSeq: number,
    limit: number,
  ): Promise<{ entries: AuditRow[]; checkpoints: CheckpointRow[]; size: number }> {
    // One snapshot: appends by this region's other nodes meanwhile are not half seen.
    return this.tx(async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const entries = (
        await c.query<{ seq: number; event_id: string | null; type: string; entry: Buffer; leaf_hash: Buffer }>(
          'SELECT seq, event_id, type, entry, leaf_hash FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2',
          [afterSeq, limit],
        )
      ).rows.map((r) => ({ seq: r.seq, eventId: r.event_id, type: r.type, entry: r.entry, leafHash: r.leaf_hash }));
      const size = (await c.query<{ last: number }>('SELECT coalesce(max(seq), 0) AS last FROM audit_entries')).rows[0]!
        .last;
      const upTo = entries.length < limit ? Number.MAX_SAFE_INTEGER : entries.at(-1)!.seq;
      const checkpoints = (
        await c.query<CheckpointRow>(
          'SELECT size, root, at, signature FROM audit_checkpoints WHERE size > $1 AND size <= $2 ORDER BY size',
          [afterSeq, upTo],
        )
      ).rows;
      return { entries, checkpoints, size };
    });
  }

  async auditSeqOfEvent(eventId: string): Promise<number | undefined> {
    return (await this.q<{ seq: number }>('SELECT seq FROM audit_entries WHERE event_id = $1', [eventId]))[0]?.seq;
  }

  async lastAuditOfType(type: string): Promise<AuditRow | undefined> {
    const r = (
      await this.q<{ seq: number; event_id: string | null; type: string; entry: Buffer; leaf_hash: Buffer }>(
        'SELECT seq, event_id, type, entry, leaf_hash FROM audit_entries WHERE type = $1 ORDER BY seq DESC LIMIT 1',
        [type],
      )
    )[0];
    return r && { seq: r.seq, eventId: r.event_id, type: r.type, entry: r.entry, leafHash: r.leaf_hash };
  }

  async changesSince(afterSeq: number, limit: number, service?: string, userId?: string): Promise<ChangeEntry[]> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new DomicileError('BAD_REQUEST', `changesSince takes a limit of at least 1, not ${limit}`);
    if (userId !== undefined && service === undefined)
      throw new DomicileError('BAD_REQUEST', "changesSince of one user takes that user's service too");
    const columns = 'SELECT seq, user_id, service, collection, key, op, version, at, sealed_key FROM changes';
    type Row = {
      seq: number;
      user_id: string;
      service: string;
      collection: string;
      key: string;
      op: 'put' | 'delete';
      version: number;
      at: number;
      sealed_key: Buffer | null;
    };
    // Up to the log's settled end, read first in a statement of its own: an entry past it may
    // have a smaller seq than one still to commit, and a reader that resumed after it would
    // miss that one. The page's statement then sees every entry up to the end.
    const end = await this.lastSeq();
    const rows =
      userId !== undefined
        ? await this.q<Row>(
            `${columns} WHERE user_id = $1 AND service = $2 AND seq > $3 AND seq <= $5 ORDER BY seq LIMIT $4`,
            [userId, service, afterSeq, limit, end],
          )
        : service === undefined
          ? await this.q<Row>(`${columns} WHERE seq > $1 AND seq <= $3 ORDER BY seq LIMIT $2`, [afterSeq, limit, end])
          : await this.q<Row>(`${columns} WHERE seq > $1 AND service = $2 AND seq <= $4 ORDER BY seq LIMIT $3`, [
              afterSeq,
              service,
              limit,
              end,
            ]);
    return rows.map((r) => ({
      seq: r.seq,
      userId: r.user_id,
      service: r.service,
      collection: r.collection,
      key: r.key,
      op: r.op,
      version: r.version,
      at: r.at,
      sealedKey: r.sealed_key,
    }));
  }

  /**
   * The log's settled end (change_log_end(), schema migration 6): the sequence's last value,
   * returned once every transaction that could still commit a seq up to it has ended.
   */
  async lastSeq(): Promise<number> {
    try {
      return await withPgClient(this.pool, async (c) => {
        try {
          return (
            await c.query<{ last: number }>({
              name: 'domicile-change-log-end',
              text: 'SELECT change_log_end() AS last',
            })
          ).rows[0]!.last;
        } catch (err) {
          // Cancelled between taking a session lock of the wait and giving it back: give it back.
          await c.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
          throw err;
        }
      });
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async placementStats(): Promise<PlacementStat[]> {
    const rows = await this.q<Omit<PlacementStat, 'residue'>>(`
      SELECT t.market AS market, t.service AS service,
             sum(CASE WHEN t.status <> 'moved' OR coalesce(r.n, 0) > 0 THEN 1 ELSE 0 END)::int AS users,
             sum(coalesce(r.n, 0))::int AS records,
             sum(coalesce(r.bytes, 0))::bigint AS bytes
      FROM tenancies t
      LEFT JOIN (SELECT user_id, service, count(*) AS n, sum(length(ciphertext)) AS bytes FROM records GROUP BY user_id, service) r
        ON r.user_id = t.user_id AND r.service = t.service
      GROUP BY t.market, t.service
      HAVING sum(CASE WHEN t.status <> 'moved' OR coalesce(r.n, 0) > 0 THEN 1 ELSE 0 END) > 0 OR sum(coalesce(r.n, 0)) > 0
      ORDER BY t.market COLLATE "C", t.service COLLATE "C"`);
    // Every (user, service) that a row here names, where the region does not serve that user's service.
    const residue = await this.q<{ market: string; service: string; moved_to: string | null; residue: number }>(`
      SELECT coalesce(t.market, '') AS market, n.service AS service, t.moved_to AS moved_to, count(*)::int AS residue
      FROM (
        SELECT user_id, service FROM tenancies WHERE status = 'moved'
        UNION SELECT user_id, service FROM records
        UNION SELECT user_id, service FROM changes
        UNION SELECT user_id, split_part(scope, '/', 1) FROM keys WHERE position('/' in scope) > 0
      ) n
      LEFT JOIN tenancies t ON t.user_id = n.user_id AND t.service = n.service
      WHERE t.status IS NULL OR t.status = 'moved'
      GROUP BY 1, 2, 3`);
    return withResidue(
      rows.map((r) => ({ ...r, residue: 0 })),
      residue,
    );
  }

  async countChanges(userId: string, service: string): Promise<number> {
    return (
      await this.q<{ n: number }>('SELECT count(*)::int AS n FROM changes WHERE user_id = $1 AND service = $2', [
        userId,
        service,
      ])
    )[0]!.n;
  }
}
