import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AuditEvent, decodeEntry } from '../../src/audit/audit-event.js';
import { whereUser } from '../../src/platform/where-user.js';
import { discoveryHash } from '../../src/services/messaging/contact-discovery.js';
import { filesContaining } from '../support/file-scan.js';
import {
  auth,
  grant,
  openTestPlatform,
  type Registered,
  register,
  type TestPlatform,
} from '../support/test-platform.js';

/** Every delivery event of a region's audit log. */
async function deliveries(t: TestPlatform, region: string): Promise<Array<Extract<AuditEvent, { type: 'delivery' }>>> {
  const page = await t.platform.region(region).readAudit({ afterSeq: 0, limit: 10_000 });
  return page.entries
    .map((e) => decodeEntry(Buffer.from(e.entry, 'utf8'))!.event)
    .filter((e): e is Extract<AuditEvent, { type: 'delivery' }> => e.type === 'delivery');
}

describe('Cloud Messaging and contact discovery (phase 3: India in Mumbai, Singapore in Singapore)', () => {
  let t: TestPlatform;
  let indian: Registered;
  let singaporean: Registered;
  let neighbour: Registered;
  const singaporePhone = '+65 8123 4567';
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    indian = await register(t.app, { phone: '+91 98123 45678', password: 'correct-horse', market: 'IN' });
    singaporean = await register(t.app, { phone: singaporePhone, password: 'correct-horse', market: 'SG' });
    neighbour = await register(t.app, { email: 'neighbour@example.com', password: 'correct-horse', market: 'IN' });
  });
  afterAll(async () => t.close());

  const send = (from: Registered, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/v1/me/messages', headers: auth(from.token), payload });

  it('delivers a message to a user homed in another region, there, audited in both regions, with delivery and read receipts', async () => {
    // Addressing by phone number asks who uses the service, as contact discovery does: its consent.
    await grant(t.app, indian.token, 'contact-discovery');
    const sent = await send(indian, { to: { phone: '+6581234567' }, text: 'CANARY-MESSAGE-4e1d hello from Bangalore' });
    expect(sent.statusCode).toBe(201);
    const message = sent.json();
    expect(message).toMatchObject({
      box: 'outbox',
      with: singaporean.userId,
      crossBorder: { from: 'in-mumbai', to: 'sg-singapore' },
      readAt: null,
    });
    expect(message.deliveredAt).toEqual(expect.any(Number));

    const inbox = (
      await t.app.inject({ method: 'GET', url: '/v1/me/messages', headers: auth(singaporean.token) })
    ).json().messages;
    expect(inbox).toEqual([
      expect.objectContaining({
        id: message.id,
        box: 'inbox',
        with: indian.userId,
        text: 'CANARY-MESSAGE-4e1d hello from Bangalore',
      }),
    ]);
    // Each copy rests in its owner's home region only.
    const whereRecipient = await whereUser(t.platform, singaporean.userId);
    expect(whereRecipient.holdings.map((h) => h.region)).toEqual(['sg-singapore']);
    const whereSender = await whereUser(t.platform, indian.userId);
    expect(whereSender.holdings.map((h) => h.region)).toEqual(['in-mumbai']);

    // The crossing, in both logs: who, which message, how big; never the text.
    const [source] = (await deliveries(t, 'in-mumbai')).filter((e) => e.message === message.id);
    const [destination] = (await deliveries(t, 'sg-singapore')).filter((e) => e.message === message.id);
    expect(source).toMatchObject({
      kind: 'message',
      role: 'source',
      from: 'in-mumbai',
      to: 'sg-singapore',
      sender: indian.userId,
      recipient: singaporean.userId,
      bytes: 40,
    });
    expect(destination).toMatchObject({ kind: 'message', role: 'destination', from: 'in-mumbai', to: 'sg-singapore' });
    expect(JSON.stringify([source, destination])).not.toContain('CANARY');

    const read = await t.app.inject({
      method: 'POST',
      url: `/v1/me/messages/${message.id}/read`,
      headers: auth(singaporean.token),
    });
    expect(read.statusCode).toBe(200);
    expect(read.json().readAt).toEqual(expect.any(Number));
    const outbox = (
      await t.app.inject({ method: 'GET', url: '/v1/me/messages?box=outbox', headers: auth(indian.token) })
    ).json().messages;
    expect(outbox).toEqual([expect.objectContaining({ id: message.id, readAt: read.json().readAt })]);
    expect(
      (await deliveries(t, 'sg-singapore')).filter((e) => e.message === message.id).map((e) => `${e.kind}/${e.role}`),
    ).toEqual(['message/destination', 'receipt/source']);
    // Only the recipient can read it.
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: `/v1/me/messages/${message.id}/read`,
          headers: auth(neighbour.token),
        })
      ).statusCode,
    ).toBe(404);
  });

  it('keeps inbox and outbox copies for the platform to write: the records API refuses them', async () => {
    for (const url of [
      '/v1/me/messaging/messages/in-forged',
      '/v1/me/messaging/messages/out-forged',
      '/v1/me/shop/orders/sale-redmi-1s-india',
    ]) {
      const res = await t.app.inject({ method: 'PUT', url, headers: auth(indian.token), payload: { text: 'forged' } });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error.message).toMatch(/is written by .*not through the records API/);
    }
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: '/v1/me/messaging/messages/draft-1',
          headers: auth(indian.token),
          payload: { text: 'a draft' },
        })
      ).statusCode,
    ).toBe(200);
  });

  it('records no crossing for a message within one region, and names what is wrong with a bad one', async () => {
    const local = await send(indian, { to: { userId: neighbour.userId }, text: 'same region' });
    expect(local.statusCode).toBe(201);
    expect(local.json().crossBorder).toBeNull();
    expect((await deliveries(t, 'in-mumbai')).filter((e) => e.message === local.json().id)).toEqual([]);

    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ to: { phone: '+6500000000' }, text: 'x' }, 404, /nobody with this phone number/],
      [{ to: { userId: 'u_nobody' }, text: 'x' }, 404, /no user u_nobody/],
      [
        { to: { userId: neighbour.userId, phone: singaporePhone }, text: 'x' },
        400,
        /exactly one of to.userId or to.phone/,
      ],
      [{ to: { userId: neighbour.userId }, text: '' }, 400, /text/],
      [{ to: { userId: neighbour.userId }, text: 'x', cc: 'y' }, 400, /cc/],
    ];
    for (const [payload, status, message] of cases) {
      const res = await send(indian, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(status);
      expect(res.json().error.message).toMatch(message);
    }
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/v1/me/messages',
          payload: { to: { userId: neighbour.userId }, text: 'x' },
        })
      ).statusCode,
    ).toBe(401);
  });

  it('discovers contacts only with consent, from keyed hashes, and keeps no contact anywhere', async () => {
    const params = (
      await t.app.inject({ method: 'GET', url: '/v1/me/contact-discovery', headers: auth(neighbour.token) })
    ).json();
    expect(params).toMatchObject({ algorithm: 'HMAC-SHA256', purpose: 'contact-discovery' });
    // The phone's side: its address book, hashed on the device.
    const addressBook = [singaporePhone.replaceAll(' ', ''), '+6599990001', '+919800000002'];
    const canaries = addressBook.slice(1);
    const hashes = addressBook.map((phone) => discoveryHash(params.key, phone));
    const discover = () =>
      t.app.inject({
        method: 'POST',
        url: '/v1/me/contact-discovery',
        headers: auth(neighbour.token),
        payload: { hashes },
      });

    const refused = await discover();
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatchObject({ code: 'CONSENT_REQUIRED', details: { purpose: 'contact-discovery' } });

    await grant(t.app, neighbour.token, 'contact-discovery');
    const found = await discover();
    expect(found.statusCode).toBe(200);
    expect(found.json().matches).toEqual([{ hash: hashes[0], userId: singaporean.userId }]);
    // A withdrawal stops it again.
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: '/v1/me/consents/contact-discovery',
          headers: auth(neighbour.token),
          payload: { decision: 'withdraw' },
        })
      ).statusCode,
    ).toBe(200);
    expect((await discover()).statusCode).toBe(403);
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/v1/me/contact-discovery',
          headers: auth(neighbour.token),
          payload: { hashes: ['+6599990001'] },
        })
      ).statusCode,
    ).toBe(400);

    // A day's allowance per user: an address book, never the whole numbering plan. (A user who
    // has not sent to phone numbers today, which count against it too.)
    const counter = await register(t.app, { email: 'counter@example.com', password: 'correct-horse', market: 'IN' });
    await grant(t.app, counter.token, 'contact-discovery');
    const batch = (n: number) =>
      Array.from({ length: 5_000 }, (_, i) =>
        discoveryHash(params.key, `+1555${String(n * 5_000 + i).padStart(7, '0')}`),
      );
    for (let n = 0; n < 4; n++) {
      expect(
        (
          await t.app.inject({
            method: 'POST',
            url: '/v1/me/contact-discovery',
            headers: auth(counter.token),
            payload: { hashes: batch(n) },
          })
        ).statusCode,
      ).toBe(200);
    }
    const limited = await t.app.inject({
      method: 'POST',
      url: '/v1/me/contact-discovery',
      headers: auth(counter.token),
      payload: { hashes: hashes.slice(0, 1) },
    });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { retryAfterSeconds: expect.any(Number) },
    });

    // No number of the address book, nor a hash of one, rests in any file.
    for (const needle of [
      ...canaries,
      ...canaries.map((c) => c.slice(1)),
      singaporePhone.replaceAll(' ', '').slice(1),
      ...hashes.slice(1),
    ]) {
      expect(filesContaining(t.dataDir, needle), needle).toEqual([]);
    }
  });

  describe('a message addressed by phone number tells no more than contact discovery would', () => {
    const member = singaporePhone;
    const stranger = '+6599990077';
    /** Numbers' hashes a phone could send to discovery, `n` of them, all different. */
    const hashesOf = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => createHash('sha256').update(`${prefix}${i}`).digest('base64url'));
    const discoverAs = (u: Registered, hashes: string[]) =>
      t.app.inject({ method: 'POST', url: '/v1/me/contact-discovery', headers: auth(u.token), payload: { hashes } });
    /** Spends `n` lookups of a user's allowance through contact discovery (at most 5,000 a request). */
    async function spendThroughDiscovery(u: Registered, n: number): Promise<void> {
      for (let done = 0; done < n; done += 5_000) {
        expect((await discoverAs(u, hashesOf(`${u.userId}/${done}/`, Math.min(5_000, n - done)))).statusCode).toBe(200);
      }
    }
    /** The answers to a send to a member and to a stranger, and how many phone lookups they made. */
    async function sendToBoth(
      u: Registered,
    ): Promise<{ answers: Array<{ status: number; error: unknown }>; lookups: number }> {
      const spy = vi.spyOn(t.platform.directory, 'findByLogin');
      try {
        const answers = [];
        for (const phone of [member, stranger]) {
          const res = await send(u, { to: { phone }, text: 'who are you?' });
          // Each answer has its own request id; everything else must be the same for both.
          const body = res.json() as { error?: { requestId?: string } };
          const { requestId: _id, ...error } = body.error ?? {};
          answers.push({ status: res.statusCode, error: body.error && error });
        }
        return { answers, lookups: spy.mock.calls.length };
      } finally {
        spy.mockRestore();
      }
    }

    it('without the contact-discovery grant: 403 CONSENT_REQUIRED before any lookup, the same for a member and a stranger', async () => {
      const sender = await register(t.app, { email: 'no-grant@example.com', password: 'correct-horse', market: 'IN' });
      const { answers, lookups } = await sendToBoth(sender);
      expect(answers[0]).toMatchObject({
        status: 403,
        error: { code: 'CONSENT_REQUIRED', details: { purpose: 'contact-discovery' } },
      });
      expect(answers[1]).toEqual(answers[0]);
      expect(lookups).toBe(0);
      // By user id, a message needs no lookup of a number, and no such consent.
      expect((await send(sender, { to: { userId: singaporean.userId }, text: 'hello' })).statusCode).toBe(201);
    });

    it('with the grant, answers what discovery would (a member is found, a stranger is not), and past the allowance: 429 before any lookup, the same for both', async () => {
      const sender = await register(t.app, { email: 'spent@example.com', password: 'correct-horse', market: 'IN' });
      await grant(t.app, sender.token, 'contact-discovery');
      const granted = await sendToBoth(sender);
      expect(granted.answers.map((a) => a.status)).toEqual([201, 404]);
      // Two lookups spent by these sends; the rest of the day's 20,000 through discovery.
      await spendThroughDiscovery(sender, 20_000 - 2);
      const { answers, lookups } = await sendToBoth(sender);
      expect(answers[0]).toMatchObject({
        status: 429,
        error: { code: 'RATE_LIMITED', details: { retryAfterSeconds: expect.any(Number) } },
      });
      expect(answers[1]).toEqual(answers[0]);
      expect(lookups).toBe(0);
    });

    it('a send by phone number counts against the discovery allowance', async () => {
      const sender = await register(t.app, { email: 'counted@example.com', password: 'correct-horse', market: 'IN' });
      await grant(t.app, sender.token, 'contact-discovery');
      await spendThroughDiscovery(sender, 20_000 - 1);
      expect((await send(sender, { to: { phone: member }, text: 'the last lookup of the day' })).statusCode).toBe(201);
      const limited = await discoverAs(sender, hashesOf('after', 1));
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error).toMatchObject({ code: 'RATE_LIMITED' });
    });
  });
});
