import { type SpawnedServer, spawnServer, syntheticClientFlags } from '../../bench/spawn-server.js';
import { domicileBin } from './cli.js';

/**
 * Waits until `get` gives a value (anything but undefined or false) and returns it; throws
 * naming `what` past the deadline. For the multi-process tests, where a change made through one
 * process is seen by another a moment later.
 */
export async function until<T>(what: string, get: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await get();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not so after ${ms / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A real `domicile up` process as one of several gateways sharing a PostgreSQL directory (and
 * so the coordinator, the sales' ledger and the data subject requests), its logs off, the
 * abuse limits lifted for the one machine all test users come from; resolves once it has
 * printed its whole start-up banner (and so says whether it leads migrations).
 */
export async function upOnDirectory(options: {
  data: string;
  policy: string;
  directoryUrl: string;
  /** More flags of `domicile up` (a catalog, region URLs, TLS files). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<SpawnedServer> {
  const server = await spawnServer(
    [
      domicileBin,
      'up',
      '--data',
      options.data,
      '--port',
      '0',
      '--durability',
      'normal',
      '--policy',
      options.policy,
      '--directory-url',
      options.directoryUrl,
      ...(options.args ?? []),
      ...syntheticClientFlags,
    ],
    /gateway/,
    { DOMICILE_LOG: 'off', ...options.env },
  );
  await until('the start-up banner', async () => server.lines.some((l) => l.startsWith('Press Ctrl-C')));
  return server;
}
