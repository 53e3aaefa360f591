import type Database from 'better-sqlite3';
import { DomicileError } from '../errors/domicile-error.js';
import type { SchemaMigration } from '../store/schema-runner.js';
import { openSqliteDatabase } from '../store/sqlite/open-sqlite-database.js';
import { checkpointScrubbed, withSecureDelete } from '../store/sqlite/secure-delete.js';
import { applyMigrations } from '../store/sqlite/sqlite-schema-ledger.js';
import type { Directory, DirectoryUser, HomeCount, HomeEntry, HomeFlip, NewUser, SessionEntry } from './directory.js';

/** Append-only: a new schema change is a new entry, never an edit of an old one. */
const directoryMigrations: SchemaMigration[] = [
  {
    id: 1,
    name: 'users, logins, homes, sessions',
    sql: `
      CREATE TABLE users (user_id TEXT PRIMARY KEY, market TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE logins (blind_index TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE);
      CREATE INDEX logins_user ON logins(user_id);
      CREATE TABLE homes (
        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        service TEXT NOT NULL, region TEXT NOT NULL, epoch INTEGER NOT NULL,
        PRIMARY KEY (user_id, service)
      ) WITHOUT ROWID;
      CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL, revoked_at INTEGER
      );
      CREATE INDEX sessions_user ON sessions(user_id);
    `,
  },
];

interface HomeRow {
  service: string;
  region: string;
  epoch: number;
}
interface UserRow {
  user_id: string;
  market: string;
  created_at: number;
}
interface SessionRow {
  session_id: string;
  user_id: string;
  created_at: number;
  revoked_at: number | null;
}

/** The embedded directory: one SQLite file, WAL, prepared statements made once. */
export class SqliteDirectory implements Directory {
  private readonly db: Database.Database;
  private statements: ReturnType<SqliteDirectory['prepare']> | undefined;

  constructor(private readonly file: string) {
    // Only the platform's own process opens its directory.
    this.db = openSqliteDatabase(file, { durability: 'full', foreignKeys: true, exclusive: true });
    // Every request reads it (a session, a home): keep up to 64 MiB of its pages in memory, not
    // SQLite's default 2 MiB, which a hundred thousand users' sessions outgrow.
    this.db.pragma('cache_size = -65536');
  }

  async init(): Promise<void> {
    applyMigrations(this.db, this.file, directoryMigrations);
    this.statements = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      insertUser: db.prepare('INSERT INTO users (user_id, market, created_at) VALUES (?, ?, ?)'),
      insertLogin: db.prepare('INSERT INTO logins (blind_index, user_id) VALUES (?, ?)'),
      loginTaken: db.prepare('SELECT 1 FROM logins WHERE blind_index = ?').pluck(),
      insertHome: db.prepare('INSERT INTO homes (user_id, service, region, epoch) VALUES (?, ?, ?, ?)'),
      deleteUser: db.prepare('DELETE FROM users WHERE user_id = ?'),
      findByLogin: db.prepare('SELECT user_id FROM logins WHERE blind_index = ?').pluck(),
      getUser: db.prepare('SELECT user_id, market, created_at FROM users WHERE user_id = ?'),
      listUsers: db.prepare('SELECT user_id, market, created_at FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?'),
      countUsers: db.prepare('SELECT count(*) FROM users').pluck(),
      homeCounts: db.prepare(
        'SELECT u.market AS market, h.service AS service, h.region AS region, count(*) AS users FROM homes h JOIN users u USING (user_id) GROUP BY u.market, h.service, h.region ORDER BY 1, 2, 3',
      ),
      home: db.prepare('SELECT service, region, epoch FROM homes WHERE user_id = ? AND service = ?'),
      homes: db.prepare('SELECT service, region, epoch FROM homes WHERE user_id = ? ORDER BY service'),
      flipHome: db.prepare(
        'UPDATE homes SET region = ?, epoch = epoch + 1 WHERE user_id = ? AND service = ? AND epoch = ?',
      ),
      insertSession: db.prepare('INSERT INTO sessions (session_id, user_id, created_at) VALUES (?, ?, ?)'),
      sessionActive: db
        .prepare('SELECT 1 FROM sessions WHERE session_id = ? AND user_id = ? AND revoked_at IS NULL')
        .pluck(),
      listSessions: db.prepare(
        'SELECT session_id, user_id, created_at, revoked_at FROM sessions WHERE user_id = ? ORDER BY created_at, session_id',
      ),
      revokeSession: db.prepare(
        'UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND user_id = ? AND revoked_at IS NULL',
      ),
    };
  }

  private get s() {
    if (!this.statements) throw new DomicileError('INTERNAL', 'the directory was used before init()');
    return this.statements;
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async createUser(user: NewUser): Promise<void> {
    const s = this.s;
    this.db.transaction(() => {
      for (const login of user.logins) {
        if (s.loginTaken.get(login)) {
          throw new DomicileError(
            'CONFLICT',
            'an account with this login already exists: log in with POST /v1/sessions instead',
          );
        }
      }
      s.insertUser.run(user.userId, user.market, user.createdAt);
      for (const login of user.logins) s.insertLogin.run(login, user.userId);
      for (const h of user.homes) s.insertHome.run(user.userId, h.service, h.region, h.epoch);
    })();
  }

  /**
   * Deletes the user with their logins, homes and sessions (ON DELETE CASCADE), scrubbed from
   * the file and its write-ahead log as a region's erasure is: freed pages would otherwise keep
   * the user id beside the logins' blind indexes and homes.
   */
  async deleteUser(userId: string): Promise<void> {
    const { deleteUser } = this.s;
    withSecureDelete(this.db, () => this.db.transaction(() => deleteUser.run(userId)).immediate());
    checkpointScrubbed(this.db);
  }

  async findByLogin(blindIndex: string): Promise<string | undefined> {
    return this.s.findByLogin.get(blindIndex) as string | undefined;
  }

  async getUser(userId: string): Promise<DirectoryUser | undefined> {
    const row = this.s.getUser.get(userId) as UserRow | undefined;
    return row && { userId: row.user_id, market: row.market, createdAt: row.created_at };
  }

  async listUsers(afterUserId: string, limit: number): Promise<DirectoryUser[]> {
    return (this.s.listUsers.all(afterUserId, limit) as UserRow[]).map((r) => ({
      userId: r.user_id,
      market: r.market,
      createdAt: r.created_at,
    }));
  }

  async countUsers(): Promise<number> {
    return this.s.countUsers.get() as number;
  }

  async homeCounts(): Promise<HomeCount[]> {
    return this.s.homeCounts.all() as HomeCount[];
  }

  async home(userId: string, service: string): Promise<HomeEntry | undefined> {
    return this.s.home.get(userId, service) as HomeRow | undefined;
  }

  async homes(userId: string): Promise<HomeEntry[]> {
    return this.s.homes.all(userId) as HomeRow[];
  }

  async flipHomes(flips: readonly HomeFlip[]): Promise<boolean[]> {
    const { flipHome } = this.s;
    return this.db
      .transaction(() => flips.map((f) => flipHome.run(f.toRegion, f.userId, f.service, f.fromEpoch).changes === 1))
      .immediate();
  }

  async createSession(session: Omit<SessionEntry, 'revokedAt'>): Promise<void> {
    this.s.insertSession.run(session.sessionId, session.userId, session.createdAt);
  }

  async isSessionActive(userId: string, sessionId: string): Promise<boolean> {
    return this.s.sessionActive.get(sessionId, userId) !== undefined;
  }

  async listSessions(userId: string): Promise<SessionEntry[]> {
    return (this.s.listSessions.all(userId) as SessionRow[]).map((r) => ({
      sessionId: r.session_id,
      userId: r.user_id,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }

  async revokeSession(userId: string, sessionId: string, at: number): Promise<boolean> {
    return this.s.revokeSession.run(at, sessionId, userId).changes === 1;
  }
}
