import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { inSchema, postgresSchemas } from '../../bench/postgres-regions.js';
import type { CoordinatorStore } from '../../src/migrate/coordinator-store.js';
import type { MovingUser } from '../../src/migrate/moving-users.js';
import { PostgresCoordinatorStore } from '../../src/migrate/postgres-coordinator-store.js';
import { SqliteCoordinatorStore } from '../../src/migrate/sqlite-coordinator-store.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const plan = {
  policy: { name: 'phase1', version: 2 },
  fromPolicy: null,
  services: ['shop', 'account'],
  groups: [],
  totals: { users: 0, records: 0, bytes: 0 },
};
const ledgerEntries = [
  { id: 1, name: 'migrations, movers, batches, transfers' },
  { id: 2, name: 'the lead token' },
];

function movers(): MovingUser[] {
  const out: MovingUser[] = [];
  for (let i = 0; i < 7; i++)
    out.push({ service: 'shop', userId: `u_s${i}`, market: 'IN', from: 'cn-beijing', to: 'sg-singapore', epoch: 1 });
  out.push({ service: 'shop', userId: 'u_us', market: 'US', from: 'cn-beijing', to: 'us-california', epoch: 1 });
  out.push({ service: 'account', userId: 'u_a', market: 'IN', from: 'cn-beijing', to: 'sg-singapore', epoch: 2 });
  return out;
}

function newMigration(id: string, settings = { batchSize: 3, rate: 0 }) {
  return { id, policy: plan.policy, services: plan.services, settings, plan };
}

/** Where a store's state rests: `open()` opens another store on the same state, as a second process would. */
interface Backend {
  open(): Promise<CoordinatorStore>;
  /** Runs SQL on the state behind the stores' backs; `ledger` names its schema ledger. */
  sql(text: string): Promise<void>;
  ledger: string;
}

const schemas: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const drop of schemas) await drop();
});

const backends: Record<string, () => Promise<Backend>> = {
  sqlite: () => {
    const d = tempDir('coordinator');
    cleanups.push(() => d.remove());
    const file = join(d.path, 'migrations', 'coordinator.db');
    return Promise.resolve({
      open: () => Promise.resolve(new SqliteCoordinatorStore(file)),
      sql: (text) => {
        const db = new Database(file);
        try {
          db.exec(text);
        } finally {
          db.close();
        }
        return Promise.resolve();
      },
      ledger: 'schema_migrations',
    });
  },
  postgres: async () => {
    const { schemas: made, drop } = await postgresSchemas(testPostgresUrl, ['coordinator']);
    schemas.push(drop);
    const url = inSchema(testPostgresUrl, made.coordinator!);
    return {
      open: () => PostgresCoordinatorStore.open(url),
      sql: async (text) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(text);
        } finally {
          await client.end();
        }
      },
      ledger: 'coordinator_schema_migrations',
    };
  },
};
const cleanups: Array<() => void> = [];
const opened: CoordinatorStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  for (const c of cleanups.splice(0)) c();
});

describe.each(Object.keys(backends))('the coordinator store on %s', (kind) => {
  async function backend(): Promise<Backend & { first: CoordinatorStore }> {
    const b = await backends[kind]!();
    const open = async () => {
      const store = await b.open();
      opened.push(store);
      return store;
    };
    return { ...b, open, first: await open() };
  }

  it('forms batches of one service and route, sized by the settings when each is formed', async () => {
    const { first: store } = await backend();
    expect(await store.createMigration(newMigration('m_1'), movers())).toBeUndefined();
    const b1 = (await store.formBatch('m_1', 3))!;
    expect(b1).toMatchObject({
      id: 1,
      service: 'shop',
      source: 'cn-beijing',
      destination: 'sg-singapore',
      step: 'copying',
      users: 3,
      copySeq: null,
    });
    expect((await store.movers('m_1', 1)).map((u) => u.userId)).toEqual(['u_s0', 'u_s1', 'u_s2']);
    // A batch size changed while it runs applies to the next batch; a batch never spans routes.
    expect((await store.formBatch('m_1', 10))!.users).toBe(4);
    expect(await store.formBatch('m_1', 10)).toMatchObject({ destination: 'us-california', users: 1 });
    expect(await store.formBatch('m_1', 10)).toMatchObject({ service: 'account', users: 1 });
    expect(await store.movers('m_1', 4)).toEqual([{ userId: 'u_a', market: 'IN', epoch: 2 }]);
    expect(await store.formBatch('m_1', 10)).toBeUndefined();
    expect(await store.unassigned('m_1')).toBe(0);
    expect(await store.moverCount('m_1')).toBe(9);
    expect((await store.batches('m_1', ['copying'])).map((b) => b.id)).toEqual([1, 2, 3, 4]);
  });

  it("refuses a deposed leader's writes once another process has taken the lead (a newer lead token)", async () => {
    const { first, open } = await backend();
    expect(await first.lead()).toBe(true);
    const oldToken = first.leadToken!;
    const deposed = first.asLeader(oldToken);
    await first.createMigration(newMigration('m_f'), movers());
    const batch = (await deposed.formBatch('m_f', 3))!;
    await deposed.updateBatch('m_f', batch.id, { copySeq: 4 });
    // Another process leads now (SQLite: the file reopened; PostgreSQL: the lock let go and taken).
    await first.close();
    const next = await open();
    expect(await next.lead()).toBe(true);
    expect(next.leadToken).toBeGreaterThan(oldToken);
    const stale = { code: 'STALE_LEADER' };
    const old = next.asLeader(oldToken);
    await expect(old.updateBatch('m_f', batch.id, { copySeq: 9 })).rejects.toMatchObject(stale);
    await expect(old.setState('m_f', 'failed', { from: ['running'] })).rejects.toMatchObject(stale);
    await expect(old.formBatch('m_f', 3)).rejects.toMatchObject(stale);
    await expect(old.advanceReverse('m_f', [batch.id], 7)).rejects.toMatchObject(stale);
    await expect(
      old.insertTransfer({
        migrationId: 'm_f',
        batchId: batch.id,
        service: 'shop',
        from: 'cn-beijing',
        to: 'sg-singapore',
        policy: plan.policy,
        users: ['u_s0'],
        records: 1,
        bytes: 1,
        digest: 'd',
        completedAt: 1,
      }),
    ).rejects.toMatchObject(stale);
    expect(await next.batch('m_f', batch.id)).toMatchObject({ copySeq: 4, reverseSeq: null });
    expect((await next.get('m_f'))?.state).toBe('running');
    expect(await next.transferCount('m_f')).toBe(0);
    // The new leader's writes, and an operator's (no token), go through.
    await next.asLeader(next.leadToken!).updateBatch('m_f', batch.id, { copySeq: 9 });
    expect(await next.setState('m_f', 'paused', { from: ['running'] })).toBe(true);
    expect(await next.asLeader(next.leadToken!).setState('m_f', 'running', { from: ['running'] })).toBe(false);
    expect(await next.batch('m_f', batch.id)).toMatchObject({ copySeq: 9 });
  });

  it('keeps checkpoints across a reopening, never moves a reverse checkpoint back, and records a transfer once', async () => {
    const { first: store, open } = await backend();
    await store.createMigration(newMigration('m_2', { batchSize: 50, rate: 100 }), movers());
    const b = (await store.formBatch('m_2', 50))!;
    await store.updateBatch('m_2', b.id, {
      step: 'cut-over',
      copySeq: 10,
      catchUpSeq: 42,
      reverseSeq: 7,
      pauseMs: 3.25,
      mismatches: [{ userId: 'u', collection: 'c', key: 'k', source: null, destination: null, problem: 'p' }],
    });
    await store.advanceReverse('m_2', [b.id], 20);
    await store.advanceReverse('m_2', [b.id], 15);
    const t = {
      migrationId: 'm_2',
      batchId: b.id,
      service: 'shop',
      from: 'cn-beijing',
      to: 'sg-singapore',
      policy: plan.policy,
      users: ['u_s0'],
      records: 3,
      bytes: 30,
      digest: 'd',
      completedAt: 1,
    };
    await store.insertTransfer(t);
    await store.insertTransfer({ ...t, records: 99 });
    expect(await store.setState('m_2', 'failed', { from: ['running'], resumeState: 'running', error: 'boom' })).toBe(
      true,
    );
    await store.close();

    const again = await open();
    expect(await again.batch('m_2', b.id)).toMatchObject({
      step: 'cut-over',
      copySeq: 10,
      catchUpSeq: 42,
      reverseSeq: 20,
      pauseMs: 3.25,
      mismatches: [expect.objectContaining({ problem: 'p' })],
    });
    expect(await again.transfers('m_2')).toEqual([t]);
    expect(await again.transferCount('m_2')).toBe(1);
    expect(await again.latest()).toMatchObject({
      id: 'm_2',
      state: 'failed',
      resumeState: 'running',
      error: 'boom',
      settings: { batchSize: 50, rate: 100 },
      plan,
    });
  });

  it('changes a state only from the states named (an operator and the coordinator never overwrite each other)', async () => {
    const { first: store } = await backend();
    await store.createMigration(newMigration('m_3'), movers());
    expect(await store.setState('m_3', 'cut-over', { from: ['paused'] })).toBe(false);
    expect((await store.get('m_3'))?.state).toBe('running');
    expect(await store.setState('m_3', 'paused', { from: ['running'] })).toBe(true);
    expect(await store.setState('m_3', 'failed', { from: ['running'], error: 'late' })).toBe(false);
    expect(await store.get('m_3')).toMatchObject({ state: 'paused', error: null });
  });

  it('starts no second migration while one is unfinished, and the newest is the latest', async () => {
    const { first: store } = await backend();
    await store.createMigration(newMigration('m_4'), movers());
    expect(await store.createMigration(newMigration('m_5'), movers())).toMatchObject({ id: 'm_4', state: 'running' });
    expect(await store.get('m_5')).toBeUndefined();
    await store.setState('m_4', 'completed', { from: ['running'] });
    expect((await store.get('m_4'))?.finishedAt).toEqual(expect.any(Number));
    expect(await store.createMigration(newMigration('m_5'), movers())).toBeUndefined();
    expect((await store.latest())?.id).toBe('m_5');
  });

  it("refuses state whose applied schema migration differs from this version's, naming it", async () => {
    const b = await backends[kind]!();
    await (await b.open()).close();
    await b.sql(`UPDATE ${b.ledger} SET sha256 = '${'0'.repeat(64)}' WHERE id = 1`);
    await expect(Promise.resolve().then(() => b.open())).rejects.toThrow(
      /schema migration 1 \("migrations, movers, batches, transfers"\).*edited.*new migration/,
    );
  });

  if (kind === 'sqlite') {
    it('records its schema in an append-only ledger, and refuses a second process on the same data folder', async () => {
      const d = tempDir('coordinator-ledger');
      cleanups.push(() => d.remove());
      const file = join(d.path, 'coordinator.db');
      const store = new SqliteCoordinatorStore(file);
      expect(await store.lead()).toBe(true);
      expect(() => new SqliteCoordinatorStore(file)).toThrow(/does another `domicile up` use this data folder/);
      await store.close();
      await new SqliteCoordinatorStore(file).close();
      const db = new Database(file, { readonly: true });
      expect(db.prepare('SELECT id, name FROM schema_migrations').all()).toEqual(ledgerEntries);
      db.close();
    });
  }

  if (kind === 'postgres') {
    it('lets one process at a time lead, and another take the lead once it stops', async () => {
      const { first, open } = await backend();
      const second = await open();
      expect(await first.lead()).toBe(true);
      expect(await first.lead()).toBe(true);
      expect(await second.lead()).toBe(false);
      // Both read and steer the same state.
      await second.createMigration(newMigration('m_6'), movers());
      expect((await first.latest())?.id).toBe('m_6');
      await first.close();
      expect(await second.lead()).toBe(true);
    });

    it('gives up the lead when its session is gone, so that another gateway may lead', async () => {
      const { schemas: made, drop } = await postgresSchemas(testPostgresUrl, ['lead']);
      schemas.push(drop);
      const url = inSchema(testPostgresUrl, made.lead!);
      const [first, second] = [await PostgresCoordinatorStore.open(url), await PostgresCoordinatorStore.open(url)];
      opened.push(first, second);
      expect(await first.lead()).toBe(true);
      // The lead's session dies (a network drop, a failover): the server frees its lock.
      const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 1 });
      try {
        const killed = await admin.query(
          "SELECT pg_terminate_backend(pid) AS ok FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = hashtext($2)::oid AND granted",
          [0x646f6d43, made.lead],
        );
        expect(killed.rows).toEqual([{ ok: true }]);
      } finally {
        await admin.end();
      }
      // The server ends the session on its own time, and the lock with it: the other gateway,
      // asking again as its engine does, then leads.
      const deadline = Date.now() + 10_000;
      let secondLeads = false;
      while (!secondLeads && Date.now() < deadline) {
        secondLeads = await second.lead();
        if (!secondLeads) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(secondLeads).toBe(true);
      expect(await first.lead()).toBe(false);
    });

    it('starts one migration when two gateways start at once', async () => {
      const { first, open } = await backend();
      const second = await open();
      const results = await Promise.all([
        first.createMigration(newMigration('m_a'), movers()),
        second.createMigration(newMigration('m_b'), movers()),
      ]);
      const created = results.filter((r) => r === undefined);
      expect(created).toHaveLength(1);
      const winner = (await first.latest())!.id;
      expect(results.find((r) => r !== undefined)).toMatchObject({ id: winner, state: 'running' });
      expect(await first.moverCount(winner === 'm_a' ? 'm_b' : 'm_a')).toBe(0);
    });

    it("keeps its own schema ledger, so it may share the directory's database", async () => {
      const { schemas: made, drop } = await postgresSchemas(testPostgresUrl, ['shared']);
      schemas.push(drop);
      const url = inSchema(testPostgresUrl, made.shared!);
      const admin = new pg.Pool({ connectionString: url, max: 1 });
      try {
        await admin.query(
          'CREATE TABLE schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
        );
        await admin.query("INSERT INTO schema_migrations VALUES (1, 'users, logins, homes, sessions', 0)");
        opened.push(await PostgresCoordinatorStore.open(url));
        expect((await admin.query('SELECT id, name FROM coordinator_schema_migrations')).rows).toEqual(ledgerEntries);
        expect((await admin.query('SELECT id, name FROM schema_migrations')).rows).toEqual([
          { id: 1, name: 'users, logins, homes, sessions' },
        ]);
      } finally {
        await admin.end();
      }
    });

    it('names the server it cannot reach', async () => {
      await expect(PostgresCoordinatorStore.open('postgres://postgres@127.0.0.1:1/test')).rejects.toThrow(
        /migration coordinator's state at 127\.0\.0\.1:1\/test/,
      );
    });
  }
});
