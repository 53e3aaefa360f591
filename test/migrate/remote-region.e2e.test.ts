import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type SpawnedServer, spawnServer, syntheticClientFlags } from '../../bench/spawn-server.js';
import { domicileBin, runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';
import { fetchSender } from './support/http-sender.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

const policy = (phase: string) => join(examplesDir, `${phase}.yaml`);

/**
 * The coordinator reaches regions only through RegionClient: with Singapore running as its
 * own process (`domicile region`), phase 1 moves Beijing's shop data into it over HTTP (export,
 * import under Singapore's own keys, digests, tenancy changes, change-log paging), under a
 * random writer, and `domicile migrate` steers it all through the operator API.
 */
describe('a migration into a region that runs as its own process', () => {
  const data = tempDir('migrate-remote');
  const servers: SpawnedServer[] = [];
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop();
    data.remove();
  });

  it('copies, verifies, cuts over and completes over HTTP, losing nothing', async () => {
    const quiet = { DOMICILE_LOG: 'off' };
    const before = await spawnServer(
      [
        domicileBin,
        'up',
        '--data',
        data.path,
        '--port',
        '0',
        '--durability',
        'normal',
        '--policy',
        policy('before'),
        ...syntheticClientFlags,
      ],
      /gateway/,
      quiet,
    );
    let url: string | undefined = before.url;
    const send = fetchSender(() => url);
    const users = await registerUsers(send, ['CN', 'SG', 'MY', 'US'], 2, 'remote');
    const model = new WriteModel();
    await new RandomWriter(send, users, model).seed(4);
    await before.stop();

    const sg = await spawnServer(
      [domicileBin, 'region', '--id', 'sg-singapore', '--data', data.path, '--port', '0', '--policy', policy('phase1')],
      /is up at/,
      quiet,
    );
    servers.push(sg);
    const gateway = await spawnServer(
      [
        domicileBin,
        'up',
        '--data',
        data.path,
        '--port',
        '0',
        '--durability',
        'normal',
        '--policy',
        policy('phase1'),
        '--region-url',
        `sg-singapore=${sg.url}`,
        ...syntheticClientFlags,
      ],
      /gateway/,
      quiet,
    );
    servers.push(gateway);
    url = gateway.url;
    const writer = new RandomWriter(send, users, model, { concurrency: 2, pauseMs: 2 });
    writer.start();
    try {
      const cut = await runCli(['migrate', 'start', '--wait', '--json', '--batch-size', '2', '--data', data.path]);
      expect(cut.code, cut.stderr).toBe(0);
      expect(JSON.parse(cut.stdout)).toMatchObject({ state: 'cut-over', users: { total: 6, cutOver: 6 } });
      const done = await runCli(['migrate', 'complete', '--wait', '--json', '--data', data.path]);
      expect(JSON.parse(done.stdout).state).toBe('completed');
    } finally {
      await writer.stop();
    }
    expect(await modelProblems(send, users, model)).toEqual([]);
    const where = JSON.parse(
      (await runCli(['where', users.find((u) => u.market === 'SG')!.userId, '--data', data.path, '--json'])).stdout,
    );
    expect(where.homes.find((h: { service: string }) => h.service === 'shop').region).toBe('sg-singapore');
    expect((await runCli(['report', 'residency', '--data', data.path])).code).toBe(0);
  });
});
