import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarketConnection } from '../../bench/market-client.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { WanEmulator } from '../../src/wan/wan-emulator.js';
import { examplesDir, openTestPlatform, register, type TestPlatform } from '../support/test-platform.js';
import { testLatency } from './test-latency.js';

/** A gateway in WAN emulation mode under a phase's policy, listening on a real port. */
async function emulated(phase: string): Promise<{ t: TestPlatform; url: string }> {
  const policy = await loadPolicyFile(join(examplesDir, `${phase}.yaml`));
  const t = await openTestPlatform(
    phase,
    { wan: new WanEmulator(testLatency(), policy, 'test-latency.yaml') },
    { traceRegionCalls: true },
  );
  const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { t, url };
}

/** A timed GET on a connection; `market` names the client's market to the emulation. */
async function timedGet(
  connection: MarketConnection,
  path: string,
  token?: string,
): Promise<{ status: number; ms: number; wan: string | null; body: string }> {
  const answer = await connection.send('GET', path, { token });
  const wan = answer.headers['x-domicile-wan'];
  return {
    status: answer.status,
    ms: answer.ms,
    wan: typeof wan === 'string' ? wan : null,
    body: answer.body.toString(),
  };
}

describe('WAN emulation: what a client measures follows where its data is', () => {
  let before: { t: TestPlatform; url: string };
  let phase3: { t: TestPlatform; url: string };
  beforeAll(async () => {
    before = await emulated('before');
    phase3 = await emulated('phase3');
  });
  afterAll(async () => {
    await before?.t.close();
    await phase3?.t.close();
  });

  it("charges an Indian user's account request the round trips to Beijing before, and to Mumbai once India has its region", async () => {
    const inBeijing = await register(before.t.app, {
      email: 'wan-in@example.com',
      password: 'correct-horse',
      market: 'IN',
    });
    const inMumbai = await register(phase3.t.app, {
      email: 'wan-in@example.com',
      password: 'correct-horse',
      market: 'IN',
    });

    // The first request on a connection pays the handshakes: 3 + 1 round trips of 400 ms.
    const toBeijing = new MarketConnection(before.url, 'IN');
    const first = await timedGet(toBeijing, '/v1/me/devices', inBeijing.token);
    expect(first.status).toBe(200);
    expect(first.wan).toMatch(/^ms=1600\.0; served-by=cn-beijing; rtt=400; round-trips=4; /);
    expect(first.ms).toBeGreaterThanOrEqual(1599); // a timer may fire up to 1 ms before its time by the clock
    // The next one on the same kept-alive connection, one round trip.
    const again = await timedGet(toBeijing, '/v1/me/devices', inBeijing.token);
    toBeijing.close();
    expect(again.wan).toMatch(/^ms=400\.0; served-by=cn-beijing; rtt=400; round-trips=1; /);
    expect(again.ms).toBeGreaterThanOrEqual(399);

    const toMumbai = new MarketConnection(phase3.url, 'IN');
    const local = await timedGet(toMumbai, '/v1/me/devices', inMumbai.token);
    toMumbai.close();
    expect(local.status).toBe(200);
    expect(local.wan).toMatch(/^ms=80\.0; served-by=in-mumbai; rtt=20; round-trips=4; /);
    expect(local.ms).toBeGreaterThanOrEqual(79);
  });

  it('charges a response the edge cache serves the round trip to the edge only', async () => {
    const [india, singapore] = [new MarketConnection(phase3.url, 'IN'), new MarketConnection(phase3.url, 'SG')];
    const miss = await timedGet(india, '/v1/catalog');
    expect(miss.status).toBe(200);
    // Not cached yet: the store's servers for India (its shop home under phase 3) answer.
    expect(miss.wan).toMatch(/served-by=in-mumbai; rtt=20; round-trips=\d+;/);
    const hit = await timedGet(singapore, '/v1/catalog');
    expect(hit.body).toBe(miss.body);
    expect(hit.wan).toMatch(/served-by=edge; rtt=5; round-trips=\d+;/);
    const inIndia = await timedGet(india, '/v1/catalog');
    expect(inIndia.wan).toMatch(/served-by=edge; rtt=20;/);
    india.close();
    singapore.close();
  });

  it('charges a request with a body to the region its data is in, and each call onwards to another region its round trip', async () => {
    // Phase 1 moved Singapore's store to Singapore; its messages stayed in Beijing.
    const phase1 = await emulated('phase1');
    try {
      const from = await register(phase1.t.app, {
        email: 'wan-sg@example.com',
        password: 'correct-horse',
        market: 'SG',
      });
      const sg = new MarketConnection(phase1.url, 'SG');
      const put = await sg.send('PUT', '/v1/me/shop/cart/item-1', {
        token: from.token,
        json: { value: { sku: 'mi-4', quantity: 1 } },
      });
      expect(put.status).toBe(200);
      expect(put.headers['x-domicile-wan']).toMatch(/served-by=sg-singapore; rtt=5; round-trips=4;.*onward-ms=0$/);
      sg.close();
    } finally {
      await phase1.t.close();
    }
    // Under phase 3 an Indian user's message leaves from Mumbai and rests in the recipient's home, Singapore.
    const sender = await register(phase3.t.app, {
      email: 'wan-sender@example.com',
      password: 'correct-horse',
      market: 'IN',
    });
    const recipient = await register(phase3.t.app, {
      email: 'wan-recipient@example.com',
      password: 'correct-horse',
      market: 'SG',
    });
    const india = new MarketConnection(phase3.url, 'IN');
    const sent = await india.send('POST', '/v1/me/messages', {
      token: sender.token,
      json: { to: { userId: recipient.userId }, text: 'hello' },
    });
    india.close();
    expect(sent.status).toBe(201);
    // Each call from Mumbai to Singapore costs one round trip between them (80 ms in the test file).
    const onward = /served-by=in-mumbai; rtt=20; round-trips=4;.*onward-ms=(\d+)$/.exec(
      String(sent.headers['x-domicile-wan']),
    );
    expect(Number(onward?.[1])).toBeGreaterThan(0);
    expect(Number(onward?.[1]) % 80).toBe(0);
  });

  it('leaves a request that names no market alone, and refuses a market the file does not know', async () => {
    const plain = await fetch(`${phase3.url}/healthz`);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('x-domicile-wan')).toBeNull();
    const france = new MarketConnection(phase3.url, 'FR');
    const unknown = await timedGet(france, '/healthz');
    france.close();
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).error.message).toMatch(
      /x-domicile-client-market names "FR", a market the latency file test-wan does not list; use one of: CN, HK/,
    );
  });
});
