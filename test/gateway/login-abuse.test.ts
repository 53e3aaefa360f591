import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordChecks } from '../../src/crypto/password.js';
import { defaultAuthThrottle } from '../../src/gateway/auth-throttle.js';
import { auth, openTestPlatform, type TestPlatform } from '../support/test-platform.js';

/** Issue 14, items 7, 8 and 9: login floods, enumeration by timing, control characters. */
describe('logins and registrations under abuse', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    // The gateway's own defaults, not the lifted limits other tests run with.
    t = await openTestPlatform('phase3', { throttle: defaultAuthThrottle });
  });
  afterAll(async () => t.close());

  let addresses = 0;
  /** Registers from an address of its own, so that the registration limit stays out of the way. */
  const register = async (payload: Record<string, unknown>) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      payload,
      remoteAddress: `10.9.0.${++addresses}`,
    });
    expect(res.statusCode, res.body).toBe(201);
  };
  const login = (payload: Record<string, unknown>, remoteAddress = '127.0.0.1') =>
    t.app.inject({ method: 'POST', url: '/v1/sessions', payload, remoteAddress });

  it('answers 429 with Retry-After once one phone has had too many wrong passwords, whatever the address', async () => {
    await register({ phone: '+65 9111 0001', password: 'right-password', market: 'SG' });
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof login>> | undefined;
    for (let i = 0; i < 30; i++) {
      // A different address each time: only the per-identifier limit can stop this.
      const res = await login({ phone: '+6591110001', password: `wrong-${i}` }, `10.1.0.${i + 1}`);
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        limited = res;
        break;
      }
    }
    expect(limited, `statuses: ${statuses.join(' ')}`).toBeDefined();
    expect(statuses.filter((s) => s === 401)).toHaveLength(defaultAuthThrottle.loginsPerIdentifier.limit);
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Held before it is answered, so that a looping flood cannot turn refusals into thousands of requests a second.
    const started = performance.now();
    expect((await login({ phone: '+6591110001', password: 'wrong-again' }, '10.1.2.1')).statusCode).toBe(429);
    expect(performance.now() - started).toBeGreaterThanOrEqual(defaultAuthThrottle.refusalDelayMs - 5);
    expect(limited!.json().error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { retryAfterSeconds: expect.any(Number), limit: 'logins-per-identifier' },
    });
    // The right password is throttled too: the limit does not tell the attacker when it guessed.
    expect((await login({ phone: '+6591110001', password: 'right-password' }, '10.1.1.1')).statusCode).toBe(429);
    // Another phone from the same addresses is not affected.
    await register({ phone: '+65 9111 0002', password: 'right-password', market: 'SG' });
    expect((await login({ phone: '+6591110002', password: 'right-password' }, '10.1.0.1')).statusCode).toBe(200);
  });

  it("refuses a login naming both a phone and an e-mail, so that nobody's count is reset by another's password", async () => {
    await register({ email: 'victim@example.com', password: 'victim-password', market: 'SG' });
    await register({ phone: '+65 9111 0010', password: 'attacker-password', market: 'SG' });
    const limit = defaultAuthThrottle.loginsPerIdentifier.limit;
    for (let i = 0; i < limit - 1; i++) {
      expect((await login({ email: 'victim@example.com', password: `guess-${i}` }, `10.7.0.${i + 1}`)).statusCode).toBe(
        401,
      );
    }
    // The attacker's own phone and password beside the victim's e-mail: the API takes phone|email.
    const both = await login(
      { phone: '+6591110010', email: 'victim@example.com', password: 'attacker-password' },
      '10.7.1.1',
    );
    expect(both.statusCode, both.body).toBe(400);
    expect(both.json().error).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/phone or an email, not both/),
    });
    // The victim's count stands: one guess left, then 429.
    expect((await login({ email: 'victim@example.com', password: 'guess-last' }, '10.7.2.1')).statusCode).toBe(401);
    expect((await login({ email: 'victim@example.com', password: 'guess-more' }, '10.7.2.2')).statusCode).toBe(429);
    // The attacker still logs in as themselves with one identifier.
    expect((await login({ phone: '+6591110010', password: 'attacker-password' }, '10.7.1.2')).statusCode).toBe(200);
  });

  it("keeps a phone's owner logging in from an address it logged in from, while guesses from elsewhere spend its count", async () => {
    await register({ phone: '+65 9111 0020', password: 'owner-password', market: 'SG' });
    expect((await login({ phone: '+6591110020', password: 'owner-password' }, '10.8.0.1')).statusCode).toBe(200);
    const limit = defaultAuthThrottle.loginsPerIdentifier.limit;
    const statuses: number[] = [];
    for (let i = 0; i <= limit; i++)
      statuses.push((await login({ phone: '+6591110020', password: `guess-${i}` }, `10.8.1.${i + 1}`)).statusCode);
    expect(statuses).toEqual([...Array<number>(limit).fill(401), 429]);
    // The owner, from the address it logged in from: one wrong guess every 90 s from anywhere no longer locks it out.
    expect((await login({ phone: '+6591110020', password: 'owner-password' }, '10.8.0.1')).statusCode).toBe(200);
    // A new address with the right password is still refused while the phone's count is spent.
    expect((await login({ phone: '+6591110020', password: 'owner-password' }, '10.8.3.1')).statusCode).toBe(429);
    // Guesses from the owner's address have a count of their own.
    const fromOwner: number[] = [];
    for (let i = 0; i <= limit; i++)
      fromOwner.push((await login({ phone: '+6591110020', password: `typo-${i}` }, '10.8.0.1')).statusCode);
    expect(fromOwner).toEqual([...Array<number>(limit).fill(401), 429]);
  });

  it('does not charge a right password: the owner logs in while the count has room, and the guesses before still count', async () => {
    await register({ phone: '+65 9111 0021', password: 'owner-password', market: 'SG' });
    const limit = defaultAuthThrottle.loginsPerIdentifier.limit;
    for (let i = 0; i < limit - 1; i++)
      expect((await login({ phone: '+6591110021', password: `guess-${i}` }, `10.8.4.${i + 1}`)).statusCode).toBe(401);
    // Not charged, and it does not reset the count for everyone else either.
    expect((await login({ phone: '+6591110021', password: 'owner-password' }, '10.8.5.1')).statusCode).toBe(200);
    expect((await login({ phone: '+6591110021', password: 'guess-last' }, '10.8.6.1')).statusCode).toBe(401);
    expect((await login({ phone: '+6591110021', password: 'guess-more' }, '10.8.6.2')).statusCode).toBe(429);
  });

  it("does not charge a phone's count for a login refused before its password was checked (the hashing queue full)", async () => {
    await register({ phone: '+65 9111 0022', password: 'owner-password', market: 'SG' });
    const limits = passwordChecks.limits;
    passwordChecks.configure({ concurrency: 1, maxQueue: 0 });
    let release = (): void => undefined;
    const holder = passwordChecks.run(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    try {
      for (let i = 0; i < 3; i++) {
        const res = await login({ phone: '+6591110022', password: `refused-${i}` }, `10.8.7.${i + 1}`);
        expect(res.json().error.details.limit).toBe('password-checks');
      }
    } finally {
      release();
      await holder;
      passwordChecks.configure(limits);
    }
    const limit = defaultAuthThrottle.loginsPerIdentifier.limit;
    const statuses: number[] = [];
    for (let i = 0; i <= limit; i++)
      statuses.push((await login({ phone: '+6591110022', password: `guess-${i}` }, `10.8.8.${i + 1}`)).statusCode);
    expect(statuses).toEqual([...Array<number>(limit).fill(401), 429]);
  });

  it('counts an IPv6 client by its /64, and an IPv4-mapped address as its IPv4 address', async () => {
    const make = (i: number, remoteAddress: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        payload: { email: `v6-${i}@example.com`, password: 'v6-password', market: 'SG' },
        remoteAddress,
      });
    const allowed = defaultAuthThrottle.registrationsPerAddress.limit;
    const statuses: number[] = [];
    for (let i = 0; i <= allowed; i++)
      statuses.push((await make(i, `2001:db8:1:2:${(i * 7919).toString(16)}::${i + 1}`)).statusCode);
    expect(statuses).toEqual([...Array<number>(allowed).fill(201), 429]);
    expect((await make(10, '2001:db8:1:3::1')).statusCode).toBe(201);
    const mapped: number[] = [];
    for (let i = 0; i < allowed; i++) mapped.push((await make(20 + i, '::ffff:10.12.0.1')).statusCode);
    mapped.push((await make(30, '10.12.0.1')).statusCode);
    expect(mapped).toEqual([...Array<number>(allowed).fill(201), 429]);
  });

  it('refuses new identifiers when its memory is full of drained buckets, rather than forget one (no fresh burst by flooding)', async () => {
    const small = await openTestPlatform('phase3', {
      throttle: { ...defaultAuthThrottle, loginsPerAddress: { limit: 1_000_000, windowSeconds: 1 }, maxKeys: 4 },
    });
    try {
      const attempt = (payload: Record<string, unknown>) =>
        small.app.inject({ method: 'POST', url: '/v1/sessions', payload, remoteAddress: '10.13.0.1' });
      const limit = defaultAuthThrottle.loginsPerIdentifier.limit;
      for (let i = 0; i < limit; i++)
        expect((await attempt({ email: 'target@example.com', password: `guess-${i}` })).statusCode).toBe(401);
      const flood: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await attempt({ email: `random-${i}@example.com`, password: 'whatever-1' });
        flood.push(res.statusCode === 429 ? `429 ${String(res.json().error.details.limit)}` : String(res.statusCode));
      }
      expect(flood).toEqual(['401', '401', '401', ...Array<string>(3).fill('429 logins-per-identifier-capacity')]);
      const target = await attempt({ email: 'target@example.com', password: 'guess-again' });
      expect(target.statusCode).toBe(429);
      expect(target.json().error.details.limit).toBe('logins-per-identifier');
    } finally {
      await small.close();
    }
  });

  it('answers 429 once one address has tried too many logins, across identifiers', async () => {
    // A limit of 5 an hour, so that no token comes back while the test runs, however slow the machine.
    const perAddress = await openTestPlatform('phase3', {
      throttle: { ...defaultAuthThrottle, loginsPerAddress: { limit: 5, windowSeconds: 3600 } },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const res = await perAddress.app.inject({
          method: 'POST',
          url: '/v1/sessions',
          payload: { email: `nobody-${i}@example.com`, password: 'whatever-1' },
          remoteAddress: '10.2.0.1',
        });
        statuses.push(res.statusCode);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      // Another address still gets its answer.
      const other = await perAddress.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        payload: { email: 'nobody-x@example.com', password: 'whatever-1' },
        remoteAddress: '10.2.0.2',
      });
      expect(other.statusCode).toBe(401);
    } finally {
      await perAddress.close();
    }
  });

  it('counts the default per-address login limit against every identifier an address tries', async () => {
    const statuses: number[] = [];
    // Concurrent, as a flood is: each is counted before its password is checked.
    const all = await Promise.all(
      Array.from({ length: defaultAuthThrottle.loginsPerAddress.limit + 5 }, (_, i) =>
        login({ email: `flood-${i}@example.com`, password: 'whatever-1' }, '10.2.1.1'),
      ),
    );
    for (const res of all) statuses.push(res.statusCode);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    expect(
      all.filter((r) => r.statusCode === 429 && r.json().error.details.limit === 'logins-per-address'),
    ).toHaveLength(5);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  });

  it('throttles account creation per address', async () => {
    const make = (i: number, remoteAddress: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        payload: { email: `buyer-${remoteAddress}-${i}@example.com`, password: 'buyer-password', market: 'IN' },
        remoteAddress,
      });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await make(i, '10.3.0.1')).statusCode);
    const allowed = defaultAuthThrottle.registrationsPerAddress.limit;
    expect(allowed).toBeLessThan(5);
    expect(statuses).toEqual([...Array<number>(allowed).fill(201), ...Array<number>(5 - allowed).fill(429)]);
    expect((await make(0, '10.3.0.2')).statusCode).toBe(201);
  });

  it('makes an unknown login run a password verification, as a known one does (no enumeration by timing)', async () => {
    await register({ phone: '+65 9111 0003', password: 'right-password', market: 'SG' });
    const verifications = async (payload: Record<string, unknown>, address: string) => {
      const before = passwordChecks.stats().completed;
      const res = await login(payload, address);
      expect(res.statusCode).toBe(401);
      return passwordChecks.stats().completed - before;
    };
    expect(await verifications({ phone: '+6591110003', password: 'wrong-password' }, '10.4.0.1')).toBe(1);
    expect(await verifications({ phone: '+6591119999', password: 'wrong-password' }, '10.4.0.2')).toBe(1);
    expect(await verifications({ email: 'never-registered@example.com', password: 'wrong-password' }, '10.4.0.3')).toBe(
      1,
    );
  });

  it('refuses passwords with control characters or unpaired surrogates, naming the field', async () => {
    const nuls = '\u0000'.repeat(8);
    for (const password of [
      nuls,
      `ab${'\u0000'.repeat(6)}`,
      'pass\u0007word',
      'password\u007f',
      'pass\u0085word',
      'password\ud800',
    ]) {
      const reg = await t.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        payload: { email: 'ctl@example.com', password, market: 'SG' },
        remoteAddress: '10.5.0.1',
      });
      expect(reg.statusCode, JSON.stringify(password)).toBe(400);
      expect(reg.json().error.code).toBe('BAD_REQUEST');
      expect(reg.json().error.message).toMatch(/password/);
      const res = await login({ email: 'ctl@example.com', password }, '10.5.0.2');
      expect(res.statusCode, JSON.stringify(password)).toBe(400);
      expect(res.json().error.message).toMatch(/password/);
    }
    // Letters beyond ASCII and emoji (surrogate pairs) are fine.
    await register({ email: 'unicode@example.com', password: 'pässwörd-😀-密码', market: 'SG' });
    expect((await login({ email: 'unicode@example.com', password: 'pässwörd-😀-密码' }, '10.5.0.3')).statusCode).toBe(
      200,
    );
  });

  it('runs a bounded number of password hashes at once under a flood, and refuses the excess at once with 429 and Retry-After', async () => {
    // Throttles lifted (a flood from many addresses): only the bound on hashing stands.
    const open = await openTestPlatform('phase3');
    const limits = passwordChecks.limits;
    passwordChecks.configure({ concurrency: 1, maxQueue: 4 });
    try {
      const reg = await open.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        payload: { phone: '+65 9111 0004', password: 'right-password', market: 'SG' },
      });
      const { token } = reg.json() as { token: string };
      const flood = Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          open.app.inject({
            method: 'POST',
            url: '/v1/sessions',
            payload: { phone: i % 2 ? '+6591110004' : `+659222${String(i).padStart(4, '0')}`, password: `wrong-${i}` },
          }),
        ),
      );
      // The rest of the API answers meanwhile.
      const read = await open.app.inject({ method: 'GET', url: '/v1/me', headers: auth(token) });
      expect(read.statusCode).toBe(200);
      const answers = await flood;
      const statuses = answers.map((r) => r.statusCode);
      // One running and four queued get their answer (a few more if one finished while the flood arrived), the rest 429 at once.
      expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(5);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(15);
      expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
      const refused = answers.find((r) => r.statusCode === 429)!;
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json().error).toMatchObject({
        code: 'RATE_LIMITED',
        details: { limit: 'password-checks', retryAfterSeconds: 1 },
      });
      expect(passwordChecks.stats().peakRunning).toBe(1);
      expect(passwordChecks.stats().running).toBe(0);
    } finally {
      passwordChecks.configure(limits);
      await open.close();
    }
  });

  it('takes the client address from X-Forwarded-For only when the peer is a trusted proxy', async () => {
    const throttle = { ...defaultAuthThrottle, registrationsPerAddress: { limit: 2, windowSeconds: 3600 } };
    const make = (app: TestPlatform['app'], i: number) =>
      app.inject({
        method: 'POST',
        url: '/v1/accounts',
        remoteAddress: '10.6.0.1',
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
        payload: { email: `proxied-${i}@example.com`, password: 'proxied-password', market: 'SG' },
      });
    const direct = await openTestPlatform('phase3', { throttle });
    const proxied = await openTestPlatform('phase3', { throttle, trustProxy: ['10.6.0.0/16'] });
    try {
      // Not trusted: the header is anybody's to write, so all three count against 10.6.0.1.
      expect([
        (await make(direct.app, 1)).statusCode,
        (await make(direct.app, 2)).statusCode,
        (await make(direct.app, 3)).statusCode,
      ]).toEqual([201, 201, 429]);
      // Behind a trusted balancer: three clients.
      expect([
        (await make(proxied.app, 1)).statusCode,
        (await make(proxied.app, 2)).statusCode,
        (await make(proxied.app, 3)).statusCode,
      ]).toEqual([201, 201, 201]);
      await expect(openTestPlatform('phase3', { trustProxy: ['the-load-balancer'] })).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});
