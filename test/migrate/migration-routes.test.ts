import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.js';
import { auth } from '../support/test-platform.js';
import { injectSender } from './support/http-sender.js';
import { openPhase, type PhasePlatform, scenarioPolicy } from './support/phase-platform.js';
import { RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

// biome-ignore lint/suspicious/noExplicitAny: the test walks many answers' shapes; issue 18's typed client will type them
type Json = any;

/** The operator API that `domicile plan` and `domicile migrate …` steer a running platform with. */
describe('the migration routes of the operator API', () => {
  const data = tempDir('migrate-routes');
  let p: PhasePlatform;
  let operator: Record<string, string>;
  const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown) => {
    const res = await p.app.inject({
      method,
      url,
      headers: operator,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: res.statusCode, json: res.json() as Record<string, Json> };
  };

  beforeAll(async () => {
    p = await openPhase(data.path, 'before');
    const send = injectSender(() => p.app);
    await new RandomWriter(
      send,
      await registerUsers(send, ['CN', 'IN', 'SG', 'US'], 2, 'routes'),
      new WriteModel(),
    ).seed(3);
    await p.close();
    p = await openPhase(data.path, 'phase1');
    operator = auth(p.platform.secrets.operatorToken);
  });
  afterAll(async () => {
    await p.close();
    data.remove();
  });

  it('needs the operator credential', async () => {
    expect((await p.app.inject({ method: 'GET', url: '/v1/ops/migrations/current' })).statusCode).toBe(401);
    expect(
      (await p.app.inject({ method: 'POST', url: '/v1/ops/migrations', payload: {}, headers: auth('a-user-token') }))
        .statusCode,
    ).toBe(401);
  });

  it('refuses bad input with a message that names it, and starts nothing', async () => {
    expect(await call('GET', '/v1/ops/migrations/current')).toMatchObject({
      status: 404,
      json: { error: { code: 'NOT_FOUND', message: expect.stringMatching(/no migration has been started/) } },
    });
    const small = await call('POST', '/v1/ops/migrations', { batchSize: 0 });
    expect(small).toMatchObject({ status: 400, json: { error: { code: 'BAD_REQUEST' } } });
    expect(small.json.error.message).toMatch(/batchSize/);
    expect((await call('POST', '/v1/ops/migrations', { rate: -1 })).json.error.message).toMatch(/rate/);
    expect((await call('POST', '/v1/ops/migrations', { batch: 3 })).json.error.message).toMatch(
      /Unrecognized key.*batch.*remove it/,
    );
    expect((await call('POST', '/v1/ops/migrations', { services: ['shop', 'photos'] })).json.error.message).toMatch(
      /"photos", which policy "phase1" does not declare; use some of/,
    );
    expect((await call('GET', '/v1/ops/migrations/nope')).json.error.message).toMatch(/a migration id looks like m_/);
    expect((await call('GET', '/v1/ops/migrations/current')).status).toBe(404);
  });

  it('plans, from the policy in force or between two policies sent as JSON', async () => {
    const now = await call('POST', '/v1/ops/plans', {});
    expect(now.status).toBe(200);
    expect(now.json.groups.map((g: { market: string; to: string }) => `${g.market}→${g.to}`)).toEqual([
      'IN→sg-singapore',
      'SG→sg-singapore',
      'US→us-california',
    ]);
    const diff = await call('POST', '/v1/ops/plans', {
      from: await scenarioPolicy('phase2'),
      to: await scenarioPolicy('phase3'),
      services: ['account'],
    });
    expect(diff.json.groups.map((g: { market: string; to: string }) => `${g.market}→${g.to}`)).toEqual([
      'BR→us-oregon',
      'IN→in-mumbai',
    ]);
    const broken = await call('POST', '/v1/ops/plans', {
      from: await scenarioPolicy('phase2'),
      to: { version: 'two' },
    });
    expect(broken).toMatchObject({
      status: 422,
      json: {
        error: { code: 'POLICY_INVALID', message: expect.stringMatching(/the "to" policy is not valid: version/) },
      },
    });
    expect((await call('POST', '/v1/ops/plans', { from: await scenarioPolicy('phase2') })).json.error.message).toMatch(
      /needs --to/,
    );
  });

  it('answers a policy with many copies of a rule with its problems, and one too large to check with 413: a 4xx, never a 500', async () => {
    const phase2 = await scenarioPolicy('phase2');
    const copies = (n: number) => ({
      ...phase2,
      placement: [...phase2.placement, ...Array.from({ length: n }, () => structuredClone(phase2.placement[1]!))],
    });
    const invalid = await call('POST', '/v1/ops/plans', { from: phase2, to: copies(500) });
    expect(invalid).toMatchObject({ status: 422, json: { error: { code: 'POLICY_INVALID' } } });
    expect(invalid.json.error.message).toMatch(
      /^the "to" policy is not valid: ambiguous: the rule at placement\[1\] also places HK, IN, ID, MY, PH, SG, TW × shop/,
    );
    expect(invalid.json.error.message).toMatch(/and 495 more problems; check it with `domicile policy check FILE`$/);
    const large = await call('POST', '/v1/ops/plans', { from: phase2, to: copies(2_000) });
    expect(large).toMatchObject({ status: 413, json: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    expect(large.json.error.message).toMatch(/the "to" policy holds more than 10000 values/);
    // One rule naming too many market × service pairs to check at once: refused before any check.
    const wide = {
      ...phase2,
      placement: [
        {
          markets: Array.from({ length: 3_000 }, (_, i) => `M${i}`),
          services: Array.from({ length: 3_000 }, (_, i) => `s${i}`),
          regions: ['sg-singapore'],
        },
      ],
    };
    const refused = await call('POST', '/v1/ops/plans', { from: phase2, to: wide });
    expect(refused).toMatchObject({ status: 413, json: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    expect(refused.json.error.message).toMatch(/placement rules name more than 100000 market × service pairs/);
    // Still answering.
    expect((await p.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('starts, pauses, changes settings, resumes and completes a migration', async () => {
    const started = await call('POST', '/v1/ops/migrations', { batchSize: 1, rate: 5, services: ['shop'] });
    expect(started).toMatchObject({
      status: 201,
      json: { state: 'running', settings: { batchSize: 1, rate: 5 }, services: ['shop'] },
    });
    const id = started.json.id as string;
    expect((await call('POST', '/v1/ops/migrations', {})).json.error.message).toMatch(
      new RegExp(`migration ${id} is running: finish it first`),
    );
    expect((await call('POST', '/v1/ops/migrations/current/pause')).json.state).toBe('paused');
    expect((await call('POST', '/v1/ops/migrations/current/complete')).json.error.message).toMatch(
      /cannot complete .* it is paused/,
    );
    const changed = await call('PATCH', `/v1/ops/migrations/${id}/settings`, { batchSize: 4, rate: 0 });
    expect(changed.json.settings).toEqual({ batchSize: 4, rate: 0 });
    expect((await call('PATCH', '/v1/ops/migrations/current/settings', { batchSize: 20_000 })).status).toBe(400);
    expect((await call('POST', '/v1/ops/migrations/m_other/resume')).json.error.message).toMatch(/not the latest/);
    expect((await call('POST', '/v1/ops/migrations/current/resume')).json.state).toBe('running');
    expect((await p.engine.waitFor())?.state).toBe('cut-over');
    const status = await call('GET', `/v1/ops/migrations/${id}`);
    expect(status.json).toMatchObject({
      state: 'cut-over',
      users: { total: 6, cutOver: 6 },
      pauses: { count: expect.any(Number) },
    });
    expect((await call('POST', '/v1/ops/migrations/current/complete')).json.state).toBe('completing');
    expect((await p.engine.waitFor(['completed']))?.state).toBe('completed');
    const transfers = await call('GET', '/v1/ops/transfers');
    expect(transfers.json.transfers.length).toBe(status.json.batches.total);
    expect(transfers.json.transfers[0]).toMatchObject({
      migrationId: id,
      service: 'shop',
      from: 'cn-beijing',
      policy: { name: 'phase1', version: 2 },
    });
    expect((await call('POST', '/v1/ops/migrations/current/rollback')).json.error.message).toMatch(
      /cannot roll back .* it is completed/,
    );
  });
});
