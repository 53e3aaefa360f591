import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRegionStore } from '../../src/store/postgres/postgres-region-store.js';
import type { ChangeEntry, RecordWrite, Tenancy, WriteResult } from '../../src/store/region-store.js';
import { testPostgresUrl } from '../support/postgres.js';
import { describeRegionStoreConformance } from './region-store-conformance.js';

/**
 * The same conformance suite against PostgreSQL (the local server CI starts; DOMICILE_TEST_PG
 * names another). Each store gets a schema of its own in the test database, dropped at the end.
 * A server that cannot be reached fails these tests: it never skips them.
 */
const schemas: string[] = [];
const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });
let counter = 0;

async function freshSchema(): Promise<string> {
  const schema = `rs_${process.pid}_${Date.now().toString(36)}_${++counter}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describeRegionStoreConformance(
  'postgres',
  async () => new PostgresRegionStore({ url: testPostgresUrl, schema: await freshSchema() }),
);

describe('PostgresRegionStore specifics', () => {
  it('applies its schema once under a lock, however many processes start together', async () => {
    const schema = await freshSchema();
    const stores = Array.from({ length: 4 }, () => new PostgresRegionStore({ url: testPostgresUrl, schema }));
    await Promise.all(stores.map((s) => s.init()));
    const ledger = await admin.query(`SELECT id, name FROM ${schema}.schema_migrations ORDER BY id`);
    expect(ledger.rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('lets a tailing reader miss nothing and read nothing twice while writers of many users commit out of seq order', async () => {
    const users = 16;
    const store = new PostgresRegionStore({ url: testPostgresUrl, schema: await freshSchema(), poolSize: 20 });
    await store.init();
    for (let u = 0; u < users; u++)
      await store.putTenancy({
        userId: `u${u}`,
        service: 'shop',
        market: 'SG',
        epoch: 1,
        status: 'home',
        movedTo: null,
      });
    const seen: number[] = [];
    let after = 0;
    let writing = true;
    const reader = (async () => {
      while (writing || after < (await store.lastSeq())) {
        const before = await store.lastSeq();
        const page = await store.changesSince(after, 1_000);
        seen.push(...page.map((c) => c.seq));
        after = page.length > 0 ? page.at(-1)!.seq : Math.max(after, before);
      }
    })();
    await Promise.all(
      Array.from({ length: users }, async (_, u) => {
        for (let i = 0; i < 25; i++)
          await store.writeRecord({
            userId: `u${u}`,
            service: 'shop',
            collection: 'orders',
            key: `k${i % 5}`,
            epoch: 1,
            ciphertext: Buffer.from(`${u}:${i}`),
          });
      }),
    );
    writing = false;
    await reader;
    const all = (await store.changesSince(0, 10_000)).map((c) => c.seq);
    expect(all).toHaveLength(users * 25);
    expect(seen).toEqual(all);
    await store.close();
  });

  it("gives a reader polling lastSeq and changesSince every acknowledged change of 16 concurrent writers exactly once, in each user's order", async () => {
    const writers = 16;
    const perWriter = 120;
    const store = new PostgresRegionStore({ url: testPostgresUrl, schema: await freshSchema(), poolSize: 20 });
    await store.init();
    for (let u = 0; u < writers; u++)
      await store.putTenancy({
        userId: `w${u}`,
        service: 'shop',
        market: 'SG',
        epoch: 1,
        status: 'home',
        movedTo: null,
      });
    interface Ack {
      userId: string;
      key: string;
      op: 'put' | 'delete';
      version: number;
      seq: number;
    }
    const acks: Ack[][] = Array.from({ length: writers }, () => []);
    const seen: ChangeEntry[] = [];
    let writing = true;
    let polls = 0;
    // The reader a migration's catch-up and a device's sync are: lastSeq first, then a page
    // (small, so that it often ends on a full page); resume after the page when it is full,
    // else after the lastSeq read before it or the page's last entry, whichever is later.
    const reader = (async () => {
      let after = 0;
      for (;;) {
        const done = !writing;
        const before = await store.lastSeq();
        const page = await store.changesSince(after, 7);
        polls++;
        seen.push(...page);
        after = page.length === 7 ? page.at(-1)!.seq : Math.max(after, before, page.at(-1)?.seq ?? 0);
        if (done && page.length < 7 && after >= (await store.lastSeq())) return;
      }
    })();
    await Promise.all(
      Array.from({ length: writers }, async (_, u) => {
        const userId = `w${u}`;
        for (let i = 0; i < perWriter; i++) {
          const key = `k${i % 4}`;
          // Every fifth write deletes the key it would have written (when it exists).
          const r =
            i % 5 === 4
              ? await store.deleteRecord({ userId, service: 'shop', collection: 'orders', key, epoch: 1 })
              : await store.writeRecord({
                  userId,
                  service: 'shop',
                  collection: 'orders',
                  key,
                  epoch: 1,
                  ciphertext: Buffer.from(`${u}:${i}`),
                });
          if (r) acks[u]!.push({ userId, key, op: i % 5 === 4 ? 'delete' : 'put', version: r.version, seq: r.seq });
        }
      }),
    );
    writing = false;
    await reader;
    const acknowledged = acks.flat();
    expect(acknowledged.length).toBeGreaterThan(writers * perWriter * 0.7);
    expect(polls).toBeGreaterThan(1);
    // Read once each: no seq twice, and nothing read that was not acknowledged.
    expect(new Set(seen.map((c) => c.seq)).size).toBe(seen.length);
    const bySeq = new Map(seen.map((c) => [c.seq, c]));
    const missed = acknowledged.filter((a) => !bySeq.has(a.seq));
    expect(missed).toEqual([]);
    expect(seen).toHaveLength(acknowledged.length);
    for (const a of acknowledged)
      expect(bySeq.get(a.seq)).toMatchObject({ userId: a.userId, key: a.key, op: a.op, version: a.version });
    // In each user's order: the reader met a user's changes in the order they were acknowledged.
    for (let u = 0; u < writers; u++) {
      expect(seen.filter((c) => c.userId === `w${u}`).map((c) => c.seq)).toEqual(acks[u]!.map((a) => a.seq));
    }
    await store.close();
  });

  /**
   * A store of two connections (one statement in flight, the rest waiting to leave together)
   * whose users a, b (epoch 2), c (fenced) and d (moved) have tenancies; `batches` hears the
   * sizes of the batched statement named by `marker`.
   */
  async function batchingStore(
    marker: string,
    options: { readBatchesInFlight?: number } = {},
  ): Promise<{ store: PostgresRegionStore; batches: number[] }> {
    const store = new PostgresRegionStore({
      url: testPostgresUrl,
      schema: await freshSchema(),
      poolSize: 2,
      ...options,
    });
    await store.init();
    const batches: number[] = [];
    store.meter.listen((text, values) => {
      if (text.includes(marker)) batches.push((values[0] as unknown[]).length);
    });
    const home = (userId: string, extra: Partial<Tenancy> = {}): Tenancy => ({
      userId,
      service: 'shop',
      market: 'SG',
      epoch: 1,
      status: 'home',
      movedTo: null,
      ...extra,
    });
    await store.putTenancy(home('a'));
    await store.putTenancy(home('b', { epoch: 2 }));
    await store.putTenancy(home('c', { status: 'fenced' }));
    await store.putTenancy(home('d', { status: 'moved', movedTo: 'us-oregon' }));
    return { store, batches };
  }

  it('answers each write of a group commit its own way: refusals, conflicts and absent deletes beside writes that land', async () => {
    const { store, batches } = await batchingStore('FROM write_records(');
    const put = (userId: string, key: string, value: string, extra: Partial<RecordWrite> = {}) =>
      store.writeRecord({
        userId,
        service: 'shop',
        collection: 'orders',
        key,
        epoch: 1,
        ciphertext: Buffer.from(value),
        ...extra,
      });
    await put('a', 'old', 'v1');
    const outcome = (p: Promise<unknown>) =>
      p.then(
        (r) => r ?? 'absent',
        (e: { code: string }) => e.code,
      );
    const answers = await Promise.all([
      outcome(put('a', 'first', 'x')), // leaves alone; the rest wait for it
      outcome(put('a', 'k', 'one')),
      outcome(put('b', 'k', 'stale epoch')),
      outcome(put('a', 'k', 'two')),
      outcome(put('c', 'k', 'fenced')),
      outcome(put('d', 'k', 'moved')),
      outcome(put('stranger', 'k', 'nobody')),
      outcome(put('a', 'old', 'lost race', { ifVersion: 0 })),
      outcome(store.deleteRecord({ userId: 'a', service: 'shop', collection: 'orders', key: 'never', epoch: 1 })),
      outcome(put('a', 'req', 'requires', { requires: { collection: 'orders', key: 'old', version: 2 } })),
      outcome(
        store.deleteRecord({ userId: 'a', service: 'shop', collection: 'orders', key: 'old', epoch: 1, ifVersion: 1 }),
      ),
      outcome(put('b', 'k', 'at its epoch', { epoch: 2 })),
    ]);
    expect(batches.some((n) => n >= 10)).toBe(true);
    expect(answers[0]).toMatchObject({ version: 1 });
    expect(answers[1]).toMatchObject({ version: 1 });
    expect(answers.slice(2, 10)).toEqual([
      'STALE_EPOCH',
      { version: 2, seq: expect.any(Number), updatedAt: expect.any(Number) },
      'FENCED',
      'WRONG_REGION',
      'WRONG_REGION',
      'CONFLICT',
      'absent',
      'CONFLICT',
    ]);
    expect(answers[10]).toMatchObject({ version: 1 });
    expect(answers[11]).toMatchObject({ version: 1 });
    // What landed is what was acknowledged, and the change log holds exactly those, once each.
    expect((await store.getRecord('a', 'shop', 'orders', 'k'))?.ciphertext.toString()).toBe('two');
    expect(await store.getRecord('a', 'shop', 'orders', 'old')).toBeUndefined();
    expect(await store.getRecord('a', 'shop', 'orders', 'req')).toBeUndefined();
    expect((await store.getRecord('b', 'shop', 'orders', 'k'))?.ciphertext.toString()).toBe('at its epoch');
    const acked = answers
      .filter((a): a is WriteResult => typeof a === 'object')
      .map((a) => a.seq)
      .sort((x, y) => x - y);
    expect((await store.changesSince(1, 100)).map((c) => c.seq)).toEqual(acked);
    await store.close();
  });

  it('answers each read of a shared statement its own way: records, absent keys and every tenancy refusal', async () => {
    const { store, batches } = await batchingStore('WITH ORDINALITY AS u(user_id, service, collection, key, n)', {
      readBatchesInFlight: 1,
    });
    for (const [userId, key, epoch] of [
      ['a', 'k1', 1],
      ['a', 'k2', 1],
      ['b', 'k1', 2],
    ] as const) {
      await store.writeRecord({
        userId,
        service: 'shop',
        collection: 'orders',
        key,
        epoch,
        ciphertext: Buffer.from(`${userId}/${key}`),
      });
    }
    const read = (userId: string, key: string, epoch = 1) =>
      store.readRecord({ userId, service: 'shop', collection: 'orders', key, epoch }).then(
        (r) => r?.ciphertext.toString() ?? 'absent',
        (e: { code: string }) => e.code,
      );
    const answers = await Promise.all([
      read('a', 'k1'), // leaves alone; the rest wait for it
      read('a', 'k2'),
      read('b', 'k1'),
      read('b', 'k1', 2),
      read('a', 'nothing'),
      read('c', 'k1'),
      read('d', 'k1'),
      read('stranger', 'k1'),
      read('a', 'k1'),
      read('b', 'nothing', 2),
    ]);
    expect(batches.some((n) => n >= 9)).toBe(true);
    expect(answers).toEqual([
      'a/k1',
      'a/k2',
      'STALE_EPOCH',
      'b/k1',
      'absent',
      'FENCED',
      'WRONG_REGION',
      'WRONG_REGION',
      'a/k1',
      'absent',
    ]);
    await store.close();
  });

  it("refuses a schema whose applied migration differs from this version's, naming it, and opens one whose ledger predates checksums", async () => {
    const schema = await freshSchema();
    const first = new PostgresRegionStore({ url: testPostgresUrl, schema });
    await first.init();
    await first.close();
    await admin.query(`UPDATE ${schema}.schema_migrations SET sha256 = $1 WHERE id = 6`, ['0'.repeat(64)]);
    const edited = new PostgresRegionStore({ url: testPostgresUrl, schema });
    await expect(edited.init()).rejects.toThrow(
      /schema migration 6 \("change log without a region-wide lock"\).*edited.*new migration/,
    );
    await edited.close();
    // The ledger as the versions before checksums wrote it opens, and is sealed again.
    await admin.query(`ALTER TABLE ${schema}.schema_migrations DROP COLUMN sha256`);
    const upgraded = new PostgresRegionStore({ url: testPostgresUrl, schema });
    await upgraded.init();
    await upgraded.close();
    const ledger = await admin.query(`SELECT id, sha256 FROM ${schema}.schema_migrations ORDER BY id`);
    expect(ledger.rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ledger.rows.every((r) => /^[0-9a-f]{64}$/.test(r.sha256))).toBe(true);
  });

  it('reports a server it cannot reach as UNAVAILABLE, naming it', async () => {
    const store = new PostgresRegionStore({ url: 'postgres://postgres@127.0.0.1:1/nowhere' });
    await expect(store.init()).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('127.0.0.1:1/nowhere'),
    });
    await store.close();
  });
});
