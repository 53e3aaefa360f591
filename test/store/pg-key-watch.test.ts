import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRegionStore } from '../../src/store/postgres/postgres-region-store.js';
import type { KeyWatchEvent, WrappedKey } from '../../src/store/region-store.js';
import { testPostgresUrl } from '../support/postgres.js';

const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });
const schemas: string[] = [];
const stores: PostgresRegionStore[] = [];

async function storeIn(schema?: string): Promise<{ store: PostgresRegionStore; schema: string }> {
  let name = schema;
  if (!name) {
    name = `kw_${process.pid}_${Date.now().toString(36)}_${schemas.length}`;
    await admin.query(`CREATE SCHEMA ${name}`);
    schemas.push(name);
  }
  const store = new PostgresRegionStore({ url: testPostgresUrl, schema: name });
  stores.push(store);
  await store.init();
  return { store, schema: name };
}

afterAll(async () => {
  for (const s of stores) await s.close();
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

const key = (userId: string, scope: string): WrappedKey => ({
  userId,
  scope,
  wrapped: Buffer.from('not a real wrap'),
  wrappedBy: 'test',
  createdAt: Date.now(),
});

/** The events a watch hears, one at a time, in the order heard. */
function listener() {
  const queue: KeyWatchEvent[] = [];
  const waiting: Array<(e: KeyWatchEvent) => void> = [];
  return {
    heard: (e: KeyWatchEvent) => {
      const w = waiting.shift();
      if (w) w(e);
      else queue.push(e);
    },
    next: (): Promise<KeyWatchEvent> =>
      queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((done) => waiting.push(done)),
  };
}

/**
 * A region's node pool shares one PostgreSQL store: each node hears every key another one
 * deletes (announce_key_shred, schema migration 8), only its own region's, and hears when it may
 * have missed some (its listening connection lost) and when it hears them again.
 */
describe('the PostgreSQL store’s watch on shredded keys', () => {
  it('hears the keys another process deletes, of its own schema only, and recovers a lost connection', async () => {
    const { store: a, schema } = await storeIn();
    const { store: b } = await storeIn(schema);
    const { store: elsewhere } = await storeIn();
    const events = listener();
    await b.watchKeys(events.heard);

    await a.putKeysIfAbsent([key('u1', ''), key('u1', 'cloud/contacts'), key('u2', ''), key('u3', '')]);
    await elsewhere.putKeysIfAbsent([key('u1', '')]);
    expect(await a.deleteKeys('u1', 'cloud/')).toBe(1);
    expect(await events.next()).toEqual({ type: 'shredded', userId: 'u1', scope: 'cloud/contacts' });

    // Notices arrive in commit order: another region's shred, were it heard, would come before u2's.
    await elsewhere.deleteKeys('u1');
    await a.deleteKeys('u2');
    expect(await events.next()).toEqual({ type: 'shredded', userId: 'u2', scope: '' });

    // The listening connection dies: the node is told at once, then told when it listens again.
    const pid = b.keyWatchPid;
    expect(pid).toBeTypeOf('number');
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    expect(await events.next()).toEqual({ type: 'deaf' });
    expect(await events.next()).toEqual({ type: 'listening' });
    expect(b.keyWatchPid).not.toBe(pid);
    await a.deleteKeys('u3');
    expect(await events.next()).toEqual({ type: 'shredded', userId: 'u3', scope: '' });
  });
});
