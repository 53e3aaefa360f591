import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { expectCutOver, expectCutOverAndCompleted } from './support/migration-runs.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { registerUsers, type TestUser } from './support/random-writer.js';

/**
 * A write-only client after a move: the gateway's cached home still names the region the user
 * left, and nothing reads in between to refresh it. The old region must say WRONG_REGION before
 * anything else (its consent ledger for the user is gone with the move, so checking the grant
 * first answered a false 403 CONSENT_REQUIRED), and the gateway must re-route on it.
 */
describe('a write after a move, with no read in between', () => {
  let data: ReturnType<typeof tempDir> | undefined;
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  afterEach(async () => {
    await current?.close();
    current = undefined;
    data?.remove();
  });

  async function usersOfMiCloud(prefix: string): Promise<TestUser[]> {
    data = tempDir(prefix);
    current = await openPhase(data.path, 'before');
    const users = await registerUsers(send, ['SG', 'MY'], 2, prefix);
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
      expect((await send('PUT', '/v1/me/cloud/contacts/c0', u.token, { name: 'before' })).status).toBe(200);
    }
    await current.close();
    current = await openPhase(data!.path, 'phase2');
    // Written (never read) under phase 2 before the move: the gateway caches Beijing as their home.
    for (const u of users)
      expect((await send('PUT', '/v1/me/cloud/contacts/c1', u.token, { name: 'cached' })).status).toBe(200);
    return users;
  }

  async function expectWritesSucceed(users: readonly TestUser[], home: string): Promise<void> {
    for (const u of users) {
      for (let i = 1; i <= 3; i++) {
        const res = await send('PUT', `/v1/me/cloud/contacts/after-${i}`, u.token, { name: `try ${i}` });
        expect(res, `${u.userId} try ${i}`).toMatchObject({ status: 200 });
      }
      expect((await current!.platform.directory.home(u.userId, 'cloud'))?.region).toBe(home);
    }
    for (const u of users) {
      const listed = (await send('GET', '/v1/me/cloud/contacts', u.token)).json as { records: Array<{ key: string }> };
      expect(listed.records.map((r) => r.key).sort()).toEqual(
        expect.arrayContaining(['after-1', 'after-2', 'after-3']),
      );
    }
  }

  it('after complete: 3 of 3 writes succeed at the new home, and a sync is answered there', async () => {
    const users = await usersOfMiCloud('wrf-complete');
    const [writers, syncers] = [users.slice(0, 2), users.slice(2)];
    const tokens = new Map<string, string>();
    for (const u of syncers)
      tokens.set(u.userId, ((await send('GET', '/v1/me/sync/cloud', u.token)).json as { token: string }).token);
    await current!.engine.start({ services: ['cloud'] });
    await expectCutOverAndCompleted(current!.engine);
    await expectWritesSucceed(writers, 'sg-singapore');
    // A device syncing with its token from Beijing: answered by Singapore (a fresh snapshot of
    // everything), not by Beijing's "nothing changed".
    for (const u of syncers) {
      const res = await send('GET', `/v1/me/sync/cloud?since=${tokens.get(u.userId)!}`, u.token);
      expect(res.status).toBe(200);
      const page = res.json as { reset: boolean; changes: Array<{ key: string }> };
      expect(page.reset).toBe(true);
      expect(page.changes.map((c) => c.key).sort()).toEqual(['c0', 'c1']);
    }
  }, 60_000);

  it("after complete, a message's crossing is audited from the sender's new home, not the one the gateway cached", async () => {
    data = tempDir('wrf-messages');
    current = await openPhase(data.path, 'before');
    const [sender] = await registerUsers(send, ['SG'], 1, 'wrf-sender');
    const [recipient] = await registerUsers(send, ['CN'], 1, 'wrf-recipient');
    await current.close();
    current = await openPhase(data.path, 'phase2');
    // Sent under phase 2 before the move: the gateway caches Beijing as the sender's messaging home.
    expect(
      (await send('POST', '/v1/me/messages', sender!.token, { to: { userId: recipient!.userId }, text: 'before' }))
        .status,
    ).toBe(201);
    await current.engine.start({ services: ['messaging'] });
    await expectCutOverAndCompleted(current.engine);
    const sent = await send('POST', '/v1/me/messages', sender!.token, {
      to: { userId: recipient!.userId },
      text: 'after',
    });
    expect(sent.status).toBe(201);
    const message = sent.json as { id: string; crossBorder: unknown };
    expect(message.crossBorder).toEqual({ from: 'sg-singapore', to: 'cn-beijing' });
    for (const [region, role] of [
      ['sg-singapore', 'source'],
      ['cn-beijing', 'destination'],
    ] as const) {
      const page = await current.platform.region(region).readAudit({ afterSeq: 0, limit: 10_000 });
      const events = page.entries
        .map((e) => (JSON.parse(e.entry) as { event: Record<string, unknown> }).event)
        .filter((e) => e.type === 'delivery' && e.message === message.id);
      expect(events, region).toEqual([
        expect.objectContaining({ role, from: 'sg-singapore', to: 'cn-beijing', sender: sender!.userId }),
      ]);
    }
  }, 60_000);

  it('after rollback: 3 of 3 writes succeed back at the old home', async () => {
    const users = await usersOfMiCloud('wrf-rollback');
    const { engine } = current!;
    await engine.start({ services: ['cloud'] });
    await expectCutOver(engine);
    // Written (never read) at the destination: the gateway now caches Singapore as their home.
    for (const u of users)
      expect((await send('PUT', '/v1/me/cloud/contacts/c2', u.token, { name: 'at the destination' })).status).toBe(200);
    await engine.rollback();
    const back = await engine.waitFor(['rolled-back', 'failed']);
    expect(back?.error ?? null).toBeNull();
    expect(back?.state).toBe('rolled-back');
    await expectWritesSucceed(users, 'cn-beijing');
  }, 60_000);
});
