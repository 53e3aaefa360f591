import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorStore } from '../../src/migrate/coordinator-store.js';
import type { MovingUser } from '../../src/migrate/moving-users.js';
import { tempDir } from '../support/temp-dir.js';

const plan = { policy: { name: 'phase1', version: 2 }, fromPolicy: null, services: ['shop', 'account'], groups: [], totals: { users: 0, records: 0, bytes: 0 } };

function movers(): MovingUser[] {
  const out: MovingUser[] = [];
  for (let i = 0; i < 7; i++) out.push({ service: 'shop', userId: `u_s${i}`, market: 'IN', from: 'cn-beijing', to: 'sg-singapore', epoch: 1 });
  out.push({ service: 'shop', userId: 'u_us', market: 'US', from: 'cn-beijing', to: 'us-california', epoch: 1 });
  out.push({ service: 'account', userId: 'u_a', market: 'IN', from: 'cn-beijing', to: 'sg-singapore', epoch: 2 });
  return out;
}

describe('the coordinator store', () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
  function open(): { store: CoordinatorStore; file: string } {
    const d = tempDir('coordinator');
    dirs.push(d);
    const file = join(d.path, 'migrations', 'coordinator.db');
    return { store: new CoordinatorStore(file), file };
  }

  it('records its schema in an append-only ledger, and reopens without reapplying it', () => {
    const { store, file } = open();
    store.close();
    const again = new CoordinatorStore(file);
    again.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT id, name FROM schema_migrations').all()).toEqual([{ id: 1, name: 'migrations, movers, batches, transfers' }]);
    db.close();
  });

  it('refuses a second coordinator on the same data folder', () => {
    const { store, file } = open();
    expect(() => new CoordinatorStore(file)).toThrow(/does another `domicile up` use this data folder/);
    store.close();
  });

  it('forms batches of one service and route, sized by the settings when each is formed', () => {
    const { store } = open();
    store.createMigration({ id: 'm_1', policy: plan.policy, services: plan.services, settings: { batchSize: 3, rate: 0 }, plan }, movers());
    const b1 = store.formBatch('m_1', 3)!;
    expect(b1).toMatchObject({ id: 1, service: 'shop', source: 'cn-beijing', destination: 'sg-singapore', step: 'copying', users: 3, copySeq: null });
    expect(store.movers('m_1', 1).map((u) => u.userId)).toEqual(['u_s0', 'u_s1', 'u_s2']);
    // A batch size changed while it runs applies to the next batch; a batch never spans routes.
    expect(store.formBatch('m_1', 10)!.users).toBe(4);
    expect(store.formBatch('m_1', 10)).toMatchObject({ destination: 'us-california', users: 1 });
    expect(store.formBatch('m_1', 10)).toMatchObject({ service: 'account', users: 1 });
    expect(store.movers('m_1', 4)).toEqual([{ userId: 'u_a', market: 'IN', epoch: 2 }]);
    expect(store.formBatch('m_1', 10)).toBeUndefined();
    expect(store.unassigned('m_1')).toBe(0);
    store.close();
  });

  it('keeps checkpoints, never moves a reverse checkpoint back, and records a transfer once', () => {
    const { store, file } = open();
    store.createMigration({ id: 'm_2', policy: plan.policy, services: plan.services, settings: { batchSize: 50, rate: 100 }, plan }, movers());
    const b = store.formBatch('m_2', 50)!;
    store.updateBatch('m_2', b.id, { step: 'cut-over', copySeq: 10, catchUpSeq: 42, reverseSeq: 7, mismatches: [{ userId: 'u', collection: 'c', key: 'k', source: null, destination: null, problem: 'p' }] });
    store.advanceReverse('m_2', [b.id], 20);
    store.advanceReverse('m_2', [b.id], 15);
    const t = { migrationId: 'm_2', batchId: b.id, service: 'shop', from: 'cn-beijing', to: 'sg-singapore', policy: plan.policy, users: ['u_s0'], records: 3, bytes: 30, digest: 'd', completedAt: 1 };
    store.insertTransfer(t);
    store.insertTransfer({ ...t, records: 99 });
    store.setState('m_2', 'failed', { resumeState: 'running', error: 'boom' });
    store.close();

    const again = new CoordinatorStore(file);
    expect(again.batch('m_2', b.id)).toMatchObject({ step: 'cut-over', copySeq: 10, catchUpSeq: 42, reverseSeq: 20, mismatches: [expect.objectContaining({ problem: 'p' })] });
    expect(again.transfers('m_2')).toEqual([t]);
    expect(again.latest()).toMatchObject({ id: 'm_2', state: 'failed', resumeState: 'running', error: 'boom', settings: { batchSize: 50, rate: 100 } });
    again.close();
  });
});
