import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MarketConnection } from '../../bench/market-client.js';
import { type SpawnedServer, spawnServer } from '../../bench/spawn-server.js';
import { domicileBin, runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

describe('domicile up --emulate-wan', () => {
  const data = tempDir('emulate-wan-up');
  let server: SpawnedServer | undefined;
  afterAll(async () => {
    await server?.stop();
    data.remove();
  });

  it("holds back a market's responses by its round trips to where its data is, from the scenario's latency file", async () => {
    server = await spawnServer(
      [domicileBin, 'up', '--data', join(data.path, 'up'), '--port', '0', '--emulate-wan', 'examples/latency.yaml'],
      /gateway/,
    );
    expect(server.lines.join('\n')).toMatch(
      /WAN +emulated from examples\/latency\.yaml \(xiaomi-2014-wan\) for HK, IN, ID, MY, PH, SG, US, BR/,
    );
    const reg = await fetch(`${server.url}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'wan@example.com', password: 'correct-horse', market: 'IN' }),
    });
    const { token } = (await reg.json()) as { token: string };
    const india = new MarketConnection(server.url, 'IN');
    const devices = await india.send('GET', '/v1/me/devices', { token });
    india.close();
    expect(devices.status).toBe(200);
    // Phase 3 is the default policy: India's account is in Mumbai, 36 ms of last mile + 28.6 ms New Delhi–Pune, four round trips on a new connection.
    expect(devices.headers['x-domicile-wan']).toMatch(/^ms=\d+\.\d; served-by=in-mumbai; rtt=64\.6; round-trips=4;/);
    expect(devices.ms).toBeGreaterThanOrEqual(4 * 64.6 - 1);
  }, 60_000);

  it('refuses a latency file that is not valid, naming the line, and starts nothing', async () => {
    const bad = join(data.path, 'bad-latency.yaml');
    writeFileSync(
      bad,
      'name: bad\nmodel: { handshakeRoundTrips: 3, initialWindowBytes: 14600 }\nsources: []\nmarkets: {}\nregions: {}\nbackbone: []\n',
    );
    const res = await runCli(['up', '--data', join(data.path, 'bad'), '--port', '0', '--emulate-wan', bad]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/bad-latency\.yaml:3:\d+ sources/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);
});
