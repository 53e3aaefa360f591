import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { regionPaths } from '../../src/region/open-region-node.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { expectCutOverAndCompleted } from './support/migration-runs.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { registerUsers } from './support/random-writer.js';

/**
 * Consent moves with the data it allows: phase 2 moves Mi Cloud of international users from
 * Beijing to Singapore, and with their contacts goes the ledger that granted them. At the new
 * home the grant still holds (writes are allowed), a withdrawal there shreds there, the
 * transfer is in both regions' audit logs, and both logs verify.
 */
describe('consent across a migration', () => {
  const data = tempDir('consent-moves');
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  afterAll(async () => {
    await current?.close();
    data.remove();
  });

  it('moves the ledger with the gated data, keeps enforcing it, and audits the transfer', async () => {
    current = await openPhase(data.path, 'before');
    const users = await registerUsers(send, ['SG', 'MY'], 2, 'consent-moves');
    for (const u of users) {
      expect(
        (
          await send('PUT', '/v1/me/consents/cloud-backup', u.token, {
            decision: 'grant',
            noticeVersion: '2014-08',
            method: 'settings',
          })
        ).status,
      ).toBe(200);
      expect((await send('PUT', '/v1/me/cloud/contacts/c1', u.token, { name: `friend of ${u.userId}` })).status).toBe(
        200,
      );
    }
    await current.close();

    current = await openPhase(data.path, 'phase2');
    const { engine, platform } = current;
    await engine.start({ services: ['cloud'] });
    await expectCutOverAndCompleted(engine);

    for (const u of users) {
      expect((await platform.directory.home(u.userId, 'cloud'))?.region).toBe('sg-singapore');
      const consents = (await send('GET', '/v1/me/consents', u.token)).json as {
        consents: Array<{ purpose: string; granted: boolean; history: unknown[] }>;
      };
      expect(consents.consents.find((c) => c.purpose === 'cloud-backup')).toMatchObject({
        granted: true,
        history: [expect.objectContaining({ decision: 'grant', method: 'settings' })],
      });
      expect((await send('GET', '/v1/me/cloud/contacts/c1', u.token)).json).toMatchObject({
        value: { name: `friend of ${u.userId}` },
      });
      // A photo started after the move (photos are written by the photo routes alone).
      expect(
        (
          await send('POST', '/v1/me/photos', u.token, {
            name: 'after-the-move.jpg',
            contentType: 'image/jpeg',
            size: 10,
            sha256: 'a'.repeat(64),
          })
        ).status,
      ).toBe(201);
    }
    const [first] = users;
    expect((await send('PUT', '/v1/me/consents/cloud-backup', first!.token, { decision: 'withdraw' })).status).toBe(
      200,
    );
    expect((await send('GET', '/v1/me/cloud/contacts/c1', first!.token)).status).toBe(404);
    const refused = await send('PUT', '/v1/me/cloud/contacts/c2', first!.token, { name: 'no' });
    expect(refused).toMatchObject({
      status: 403,
      json: { error: { code: 'CONSENT_REQUIRED', details: { purpose: 'cloud-backup' } } },
    });
    await current.close();
    current = undefined;

    // Each batch's transfer, in the source's log and the destination's, and Beijing shredded what it held.
    for (const [region, role] of [
      ['cn-beijing', 'source'],
      ['sg-singapore', 'destination'],
    ] as const) {
      const db = new Database(regionPaths(data.path, region).store, { readonly: true });
      const events = db
        .prepare<[], string>("SELECT entry FROM audit_entries WHERE type IN ('transfer', 'key-shred')")
        .pluck()
        .all()
        .map((e) => (JSON.parse(String(e)) as { event: Record<string, unknown> }).event);
      db.close();
      const transfers = events.filter((e) => e.type === 'transfer' && e.stage === 'completed');
      // The copies were recorded as they crossed, before the moves were completed.
      expect(events.filter((e) => e.type === 'transfer' && e.stage === 'copied').length).toBe(transfers.length);
      expect(transfers.length).toBeGreaterThan(0);
      expect(
        transfers.every(
          (t) => t.role === role && t.service === 'cloud' && t.from === 'cn-beijing' && t.to === 'sg-singapore',
        ),
      ).toBe(true);
      expect(transfers.flatMap((t) => t.users as string[]).sort()).toEqual(users.map((u) => u.userId).sort());
      if (role === 'source')
        expect(events).toContainEqual(
          expect.objectContaining({ type: 'key-shred', reason: 'migration-complete', scopes: ['cloud/*'] }),
        );
      else
        expect(events).toContainEqual(
          expect.objectContaining({
            type: 'key-shred',
            reason: 'consent-withdrawn',
            users: [first!.userId],
            scopes: ['cloud/contacts', 'cloud/photos'],
          }),
        );
    }
    const verified = await runCli([
      'audit',
      'verify',
      '--data',
      data.path,
      '--policy',
      'examples/phase2.yaml',
      '--json',
    ]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  }, 60_000);
});
