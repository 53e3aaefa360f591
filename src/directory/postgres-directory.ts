import type pg from 'pg';
import { DomicileError } from '../errors/domicile-error.js';
import { Batcher } from '../shared/batcher.js';
import { inPgTransaction, openPgPool, pgWhere } from '../store/postgres/pg-pool.js';
import { applyPgMigrations } from '../store/postgres/pg-schema-ledger.js';
import type { SchemaMigration } from '../store/schema-runner.js';
import type { Directory, DirectoryUser, HomeCount, HomeEntry, HomeFlip, NewUser, SessionEntry } from './directory.js';

/** Append-only, as the SQLite directory's, with the same ids and names. */
const directoryMigrations: SchemaMigration[] = [
  {
    id: 1,
    name: 'users, logins, homes, sessions',
    sql: `
    CREATE TABLE users (user_id text PRIMARY KEY, market text NOT NULL, created_at bigint NOT NULL);
    CREATE TABLE logins (blind_index text PRIMARY KEY, user_id text NOT NULL REFERENCES users(user_id) ON DELETE CASCADE);
    CREATE INDEX logins_user ON logins(user_id);
    CREATE TABLE homes (
      user_id text NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
      service text NOT NULL, region text NOT NULL, epoch bigint NOT NULL,
      PRIMARY KEY (user_id, service)
    );
    CREATE TABLE sessions (
      session_id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
      created_at bigint NOT NULL, revoked_at bigint
    );
    CREATE INDEX sessions_user ON sessions(user_id);
  `,
  },
  {
    id: 2,
    name: 'users in code-point order',
    // Paging users in code-point order (the same as SQLite's) without sorting the whole table each page.
    sql: 'CREATE INDEX users_user_id_c ON users (user_id COLLATE "C");',
  },
];

/**
 * The directory in PostgreSQL, for several gateway processes at once: every gateway reads and
 * flips the same homes (compare-and-set on the epoch in the database), claims logins in one
 * transaction against the others, and sees a revoked session at once.
 */
export class PostgresDirectory implements Directory {
  private readonly pool: pg.Pool;
  private readonly where: string;
  private readonly sessionChecks = new Batcher<{ userId: string; sessionId: string }, boolean>(
    (batch) => this.checkSessions(batch),
    { inFlight: 2, maxBatch: 1_000 },
  );

  constructor(url: string, options: { schema?: string } = {}) {
    this.pool = openPgPool({ url, schema: options.schema, what: 'the directory' });
    this.where = pgWhere(url);
  }

  async init(): Promise<void> {
    try {
      await applyPgMigrations(this.pool, `the directory at ${this.where}`, directoryMigrations);
    } catch (err) {
      if (err instanceof DomicileError) throw err;
      throw new DomicileError('UNAVAILABLE', `cannot open the directory at ${this.where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw new DomicileError('UNAVAILABLE', `the directory at ${this.where} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async createUser(user: NewUser): Promise<void> {
    try {
      await inPgTransaction(this.pool, async (client) => {
        await client.query('INSERT INTO users (user_id, market, created_at) VALUES ($1, $2, $3)', [
          user.userId,
          user.market,
          user.createdAt,
        ]);
        for (const login of user.logins) {
          const claimed = await client.query(
            'INSERT INTO logins (blind_index, user_id) VALUES ($1, $2) ON CONFLICT (blind_index) DO NOTHING',
            [login, user.userId],
          );
          if (claimed.rowCount !== 1)
            throw new DomicileError(
              'CONFLICT',
              'an account with this login already exists: log in with POST /v1/sessions instead',
            );
        }
        for (const h of user.homes)
          await client.query('INSERT INTO homes (user_id, service, region, epoch) VALUES ($1, $2, $3, $4)', [
            user.userId,
            h.service,
            h.region,
            h.epoch,
          ]);
      });
    } catch (err) {
      throw err instanceof DomicileError
        ? err
        : new DomicileError('UNAVAILABLE', `the directory at ${this.where} failed: ${(err as Error).message}`, {
            cause: err,
          });
    }
  }

  /**
   * The rows go, but PostgreSQL keeps their bytes in dead tuples (and, after VACUUM, in free
   * space it does not zero) until a table is rewritten: the operator's VACUUM FULL (or
   * pg_repack) of users, logins, homes and sessions, which docs/operations.md describes. Not run
   * here: it locks the tables every request reads for as long as the rewrite takes.
   */
  async deleteUser(userId: string): Promise<void> {
    await this.q('DELETE FROM users WHERE user_id = $1', [userId]);
  }

  async findByLogin(blindIndex: string): Promise<string | undefined> {
    return (await this.q<{ user_id: string }>('SELECT user_id FROM logins WHERE blind_index = $1', [blindIndex]))[0]
      ?.user_id;
  }

  async getUser(userId: string): Promise<DirectoryUser | undefined> {
    const r = (
      await this.q<{ user_id: string; market: string; created_at: number }>(
        'SELECT user_id, market, created_at FROM users WHERE user_id = $1',
        [userId],
      )
    )[0];
    return r && { userId: r.user_id, market: r.market, createdAt: r.created_at };
  }

  async listUsers(afterUserId: string, limit: number): Promise<DirectoryUser[]> {
    return (
      await this.q<{ user_id: string; market: string; created_at: number }>(
        'SELECT user_id, market, created_at FROM users WHERE user_id COLLATE "C" > $1 ORDER BY user_id COLLATE "C" LIMIT $2',
        [afterUserId, limit],
      )
    ).map((r) => ({ userId: r.user_id, market: r.market, createdAt: r.created_at }));
  }

  async countUsers(): Promise<number> {
    return (await this.q<{ n: number }>('SELECT count(*)::int AS n FROM users'))[0]!.n;
  }

  async homeCounts(): Promise<HomeCount[]> {
    return this.q<HomeCount>(`SELECT u.market AS market, h.service AS service, h.region AS region, count(*)::int AS users
      FROM homes h JOIN users u USING (user_id) GROUP BY u.market, h.service, h.region
      ORDER BY u.market COLLATE "C", h.service COLLATE "C", h.region COLLATE "C"`);
  }

  async home(userId: string, service: string): Promise<HomeEntry | undefined> {
    return (
      await this.q<HomeEntry>('SELECT service, region, epoch FROM homes WHERE user_id = $1 AND service = $2', [
        userId,
        service,
      ])
    )[0];
  }

  async homes(userId: string): Promise<HomeEntry[]> {
    return this.q<HomeEntry>(
      'SELECT service, region, epoch FROM homes WHERE user_id = $1 ORDER BY service COLLATE "C"',
      [userId],
    );
  }

  async flipHomes(flips: readonly HomeFlip[]): Promise<boolean[]> {
    if (flips.length === 0) return [];
    // One statement, rows taken in a fixed order: two batches flipping at once cannot deadlock.
    const flipped = await this.q<{ user_id: string; service: string }>(
      `UPDATE homes h SET region = f.to_region, epoch = h.epoch + 1
       FROM (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(user_id, service, to_region, from_epoch) ORDER BY user_id, service) f
       WHERE h.user_id = f.user_id AND h.service = f.service AND h.epoch = f.from_epoch
       RETURNING h.user_id, h.service`,
      [
        flips.map((f) => f.userId),
        flips.map((f) => f.service),
        flips.map((f) => f.toRegion),
        flips.map((f) => f.fromEpoch),
      ],
    );
    const done = new Set(flipped.map((r) => `${r.user_id}\u0000${r.service}`));
    return flips.map((f) => done.has(`${f.userId}\u0000${f.service}`));
  }

  async createSession(session: Omit<SessionEntry, 'revokedAt'>): Promise<void> {
    await this.q('INSERT INTO sessions (session_id, user_id, created_at) VALUES ($1, $2, $3)', [
      session.sessionId,
      session.userId,
      session.createdAt,
    ]);
  }

  /** Asked on every authenticated request: the checks that arrive while one is on its way share the next round trip. */
  isSessionActive(userId: string, sessionId: string): Promise<boolean> {
    return this.sessionChecks.submit({ userId, sessionId });
  }

  private async checkSessions(batch: ReadonlyArray<{ userId: string; sessionId: string }>): Promise<boolean[]> {
    const active = await this.q<{ session_id: string; user_id: string }>(
      'SELECT session_id, user_id FROM sessions WHERE session_id = ANY ($1::text[]) AND revoked_at IS NULL',
      [batch.map((c) => c.sessionId)],
    );
    const found = new Set(active.map((r) => `${r.session_id}\u0000${r.user_id}`));
    return batch.map((c) => found.has(`${c.sessionId}\u0000${c.userId}`));
  }

  async listSessions(userId: string): Promise<SessionEntry[]> {
    return (
      await this.q<{ session_id: string; user_id: string; created_at: number; revoked_at: number | null }>(
        'SELECT session_id, user_id, created_at, revoked_at FROM sessions WHERE user_id = $1 ORDER BY created_at, session_id COLLATE "C"',
        [userId],
      )
    ).map((r) => ({ sessionId: r.session_id, userId: r.user_id, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  async revokeSession(userId: string, sessionId: string, at: number): Promise<boolean> {
    return (
      (
        await this.q(
          'UPDATE sessions SET revoked_at = $1 WHERE session_id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING 1',
          [at, sessionId, userId],
        )
      ).length === 1
    );
  }
}
