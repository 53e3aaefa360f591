import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Directory } from '../../src/directory/directory.js';
import { PostgresDirectory } from '../../src/directory/postgres-directory.js';
import { SqliteDirectory } from '../../src/directory/sqlite-directory.js';
import { listFiles } from '../support/file-scan.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 1 });
const schemas: string[] = [];
afterAll(async () => {
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
});

/** The same behaviour from both directories: embedded SQLite, and PostgreSQL for several gateways. */
const backends: Array<[string, (dir: string) => Promise<Directory>]> = [
  ['SqliteDirectory', async (dir) => new SqliteDirectory(join(dir, 'directory.db'))],
  [
    'PostgresDirectory',
    async () => {
      const schema = `dir_${process.pid}_${Date.now().toString(36)}_${schemas.length}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      schemas.push(schema);
      return new PostgresDirectory(testPostgresUrl, { schema });
    },
  ],
];

describe.each(backends)('%s', (_name, make) => {
  let dir: ReturnType<typeof tempDir>;
  let directory: Directory;
  beforeEach(async () => {
    dir = tempDir('directory');
    directory = await make(dir.path);
    await directory.init();
    await directory.createUser({
      userId: 'u_1',
      market: 'IN',
      logins: ['blind-phone-1', 'blind-email-1'],
      createdAt: 1,
      homes: [
        { service: 'shop', region: 'sg-singapore', epoch: 1 },
        { service: 'account', region: 'sg-singapore', epoch: 1 },
      ],
    });
  });
  afterEach(async () => {
    await directory.close();
    dir.remove();
  });

  it('claims logins atomically: a taken login refuses the whole user', async () => {
    await expect(
      directory.createUser({
        userId: 'u_2',
        market: 'SG',
        logins: ['blind-new', 'blind-email-1'],
        createdAt: 2,
        homes: [],
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await directory.getUser('u_2')).toBeUndefined();
    expect(await directory.findByLogin('blind-new')).toBeUndefined();
    expect(await directory.findByLogin('blind-phone-1')).toBe('u_1');
  });

  it('flips a home only from the epoch it was read at, raising the epoch', async () => {
    const flip = (toRegion: string, fromEpoch: number) => ({ userId: 'u_1', service: 'shop', toRegion, fromEpoch });
    expect(await directory.flipHomes([flip('in-mumbai', 2)])).toEqual([false]);
    expect(await directory.flipHomes([flip('in-mumbai', 1)])).toEqual([true]);
    expect(await directory.home('u_1', 'shop')).toEqual({ service: 'shop', region: 'in-mumbai', epoch: 2 });
    expect(await directory.flipHomes([flip('sg-singapore', 1)])).toEqual([false]);
    expect(await directory.home('u_1', 'account')).toEqual({ service: 'account', region: 'sg-singapore', epoch: 1 });
    expect(await directory.homeCounts()).toEqual([
      { market: 'IN', service: 'account', region: 'sg-singapore', users: 1 },
      { market: 'IN', service: 'shop', region: 'in-mumbai', users: 1 },
    ]);
  });

  it('flips a batch in one call, each flip compare-and-set on its own epoch', async () => {
    const flips = [
      { userId: 'u_1', service: 'shop', toRegion: 'in-mumbai', fromEpoch: 1 },
      { userId: 'u_1', service: 'account', toRegion: 'in-mumbai', fromEpoch: 7 },
      { userId: 'u_nobody', service: 'shop', toRegion: 'in-mumbai', fromEpoch: 1 },
    ];
    expect(await directory.flipHomes(flips)).toEqual([true, false, false]);
    expect(await directory.home('u_1', 'shop')).toEqual({ service: 'shop', region: 'in-mumbai', epoch: 2 });
    expect(await directory.home('u_1', 'account')).toEqual({ service: 'account', region: 'sg-singapore', epoch: 1 });
    expect(await directory.flipHomes([])).toEqual([]);
  });

  it("revokes one session of the user's, once", async () => {
    await directory.createSession({ sessionId: 's_a', userId: 'u_1', createdAt: 10 });
    await directory.createSession({ sessionId: 's_b', userId: 'u_1', createdAt: 11 });
    expect(await directory.revokeSession('u_2', 's_a', 20)).toBe(false);
    expect(await directory.revokeSession('u_1', 's_a', 20)).toBe(true);
    expect(await directory.revokeSession('u_1', 's_a', 21)).toBe(false);
    expect(await directory.isSessionActive('u_1', 's_a')).toBe(false);
    expect(await directory.isSessionActive('u_1', 's_b')).toBe(true);
    expect((await directory.listSessions('u_1')).map((s) => [s.sessionId, s.revokedAt])).toEqual([
      ['s_a', 20],
      ['s_b', null],
    ]);
  });

  it('deletes a user with their logins, homes and sessions', async () => {
    await directory.createSession({ sessionId: 's_a', userId: 'u_1', createdAt: 10 });
    await directory.deleteUser('u_1');
    expect(await directory.findByLogin('blind-phone-1')).toBeUndefined();
    expect(await directory.homes('u_1')).toEqual([]);
    expect(await directory.isSessionActive('u_1', 's_a')).toBe(false);
  });
});

describe("the directory's schema ledger", () => {
  const edited = /schema migration 1 \("users, logins, homes, sessions"\).*edited.*new migration/;

  it("refuses a SqliteDirectory whose applied migration differs from this version's, naming it", async () => {
    const dir = tempDir('directory-ledger');
    try {
      const file = join(dir.path, 'directory.db');
      const first = new SqliteDirectory(file);
      await first.init();
      await first.close();
      const db = new Database(file);
      db.prepare('UPDATE schema_migrations SET sha256 = ? WHERE id = 1').run('0'.repeat(64));
      db.close();
      const second = new SqliteDirectory(file);
      await expect(second.init()).rejects.toThrow(edited);
      await second.close();
    } finally {
      dir.remove();
    }
  });

  it("refuses a PostgresDirectory whose applied migration differs from this version's, naming it", async () => {
    const schema = `dir_${process.pid}_${Date.now().toString(36)}_${schemas.length}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    schemas.push(schema);
    const first = new PostgresDirectory(testPostgresUrl, { schema });
    await first.init();
    await first.close();
    await admin.query(`UPDATE ${schema}.schema_migrations SET sha256 = $1 WHERE id = 1`, ['0'.repeat(64)]);
    const second = new PostgresDirectory(testPostgresUrl, { schema });
    await expect(second.init()).rejects.toThrow(edited);
    await second.close();
  });
});

describe('SqliteDirectory erasure', () => {
  it("scrubs an erased user's id, logins and homes from directory.db and its write-ahead log", async () => {
    const dir = tempDir('directory-scrub');
    const file = join(dir.path, 'directory.db');
    const directory = new SqliteDirectory(file);
    await directory.init();
    const userId = 'u_erased_7f3a9c1d5e';
    const logins = ['blind-phone-9d8e7f6a5b4c', 'blind-email-1a2b3c4d5e6f'];
    const services = ['account', 'messaging', 'cloud', 'shop'];
    // Others around it, so its rows share pages with rows that stay.
    for (let i = 0; i < 300; i++) {
      await directory.createUser({
        userId: `u_other_${i}`,
        market: 'IN',
        logins: [`blind-other-${i}`],
        createdAt: i,
        homes: services.map((service) => ({ service, region: 'cn-beijing', epoch: 1 })),
      });
      if (i === 150)
        await directory.createUser({
          userId,
          market: 'SG',
          logins,
          createdAt: i,
          homes: services.map((service) => ({ service, region: 'cn-beijing', epoch: 1 })),
        });
    }
    await directory.createSession({ sessionId: 'session-of-the-erased-3c2b1a', userId, createdAt: 5 });
    // Homes flipped by migrations: rewritten rows, whose old copies must not linger either.
    await directory.flipHomes(services.map((service) => ({ userId, service, toRegion: 'sg-singapore', fromEpoch: 1 })));
    const needles = [userId, ...logins, 'session-of-the-erased-3c2b1a'];
    const holding = (needle: string): string[] =>
      listFiles(dir.path).filter((f) => readFileSync(f).includes(Buffer.from(needle)));
    for (const needle of needles) expect(holding(needle).length, needle).toBeGreaterThan(0);

    await directory.deleteUser(userId);
    expect(await directory.getUser(userId)).toBeUndefined();
    expect(await directory.findByLogin(logins[0]!)).toBeUndefined();
    // While the directory is open (its write-ahead log there), and once it is closed.
    for (const needle of needles) expect(holding(needle), needle).toEqual([]);
    expect(holding('u_other_151').length).toBeGreaterThan(0);
    await directory.close();
    for (const needle of needles) expect(holding(needle), needle).toEqual([]);
    dir.remove();
  });
});
