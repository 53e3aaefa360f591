import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type SpawnedServer, spawnServer, syntheticClientFlags } from '../../bench/spawn-server.js';
import type { FaultPoint } from '../../src/migrate/migration-types.js';
import { domicileBin, runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';
import { fetchSender } from './support/http-sender.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

function up(data: string, phase: string, fault?: FaultPoint): Promise<SpawnedServer> {
  return spawnServer(
    [
      domicileBin,
      'up',
      '--data',
      data,
      '--port',
      '0',
      '--durability',
      'normal',
      '--policy',
      join(examplesDir, `${phase}.yaml`),
      ...syntheticClientFlags,
    ],
    /gateway/,
    { DOMICILE_LOG: 'off', ...(fault ? { DOMICILE_FAULT: fault } : {}) },
  );
}

async function cli(
  args: string[],
  data: string,
): Promise<{ code: number | null; json: Record<string, unknown>; stderr: string }> {
  trace(`domicile ${args.join(' ')}`);
  const res = await runCli([...args, '--data', data, '--json']);
  trace(`  → ${res.code} ${res.stdout.slice(0, 200)} ${res.stderr.slice(0, 300)}`);
  return {
    code: res.code,
    json: res.stdout ? (JSON.parse(res.stdout) as Record<string, unknown>) : {},
    stderr: res.stderr,
  };
}

const trace = (line: string) => {
  if (process.env.DOMICILE_TEST_VERBOSE) console.log(`[kill-resume] ${line}`);
};

function exited(server: SpawnedServer): Promise<string | null> {
  return new Promise((resolve) => server.child.once('exit', (_code, signal) => resolve(signal)));
}

/**
 * The real thing: `domicile up` processes run phase 1's migration with DOMICILE_FAULT set and
 * SIGKILL themselves at each named step in turn (after a copy batch, mid catch-up, inside a
 * cut-over, after a flip, inside complete), each time started again and steered on with
 * `domicile migrate resume`, while a random writer writes through the gateway and retries
 * whatever got no answer. At the end every acknowledged write is served exactly as
 * acknowledged, and the residency report is clean.
 */
describe('kill -9 of `domicile up` at every step of a migration, resumed each time', () => {
  const data = tempDir('kill-resume');
  let server: SpawnedServer | undefined;
  let url: string | undefined;
  const send = fetchSender(() => url);
  const model = new WriteModel();
  afterAll(async () => {
    await server?.stop();
    data.remove();
  });

  /** Starts the platform again; `killed` settles when that process dies (a promise in an object, so that awaiting restart does not wait for it). */
  async function restart(fault?: FaultPoint): Promise<{ killed: Promise<string | null> }> {
    trace(`starting domicile up${fault ? ` with DOMICILE_FAULT=${fault}` : ''}`);
    url = undefined;
    server = await up(data.path, 'phase1', fault);
    url = server.url;
    return { killed: exited(server) };
  }

  it('loses no acknowledged write and applies none twice', async () => {
    server = await up(data.path, 'before');
    url = server.url;
    const users = await registerUsers(send, ['CN', 'HK', 'IN', 'MY', 'SG', 'US'], 2, 'kill');
    await new RandomWriter(send, users, model).seed(4);
    await server.stop();

    let { killed } = await restart('after-copy-batch');
    const writer = new RandomWriter(send, users, model, { concurrency: 2, pauseMs: 2 });
    writer.start();
    try {
      const started = await cli(['migrate', 'start', '--batch-size', '2', '--rate', '200'], data.path);
      expect(started.code, started.stderr).toBe(0);
      expect(await killed).toBe('SIGKILL');

      for (const fault of ['mid-catch-up', 'inside-cut-over', 'after-flip'] as const) {
        ({ killed } = await restart(fault));
        const status = await cli(['migrate', 'status'], data.path);
        expect(status.json.state, fault).toBe('interrupted');
        expect((await cli(['migrate', 'resume'], data.path)).code).toBe(0);
        expect(await killed, fault).toBe('SIGKILL');
      }

      await restart();
      expect((await cli(['migrate', 'status'], data.path)).json.state).toBe('interrupted');
      const cut = await cli(['migrate', 'resume', '--wait'], data.path);
      expect(cut.json.error ?? null).toBeNull();
      expect(cut.json.state).toBe('cut-over');
      await server.stop();

      ({ killed } = await restart('inside-complete'));
      expect((await cli(['migrate', 'complete'], data.path)).code).toBe(0);
      expect(await killed).toBe('SIGKILL');

      await restart();
      const interrupted = await cli(['migrate', 'status'], data.path);
      expect(interrupted.json).toMatchObject({ state: 'interrupted', resumeState: 'completing' });
      const done = await cli(['migrate', 'resume', '--wait'], data.path);
      expect(done.code, JSON.stringify(done.json.error)).toBe(0);
      expect(done.json.state).toBe('completed');
    } finally {
      await writer.stop();
    }
    expect(model.counts.update + model.counts.delete).toBeGreaterThan(20);
    expect(await modelProblems(send, users, model)).toEqual([]);
    const report = await runCli(['report', 'residency', '--data', data.path, '--json']);
    expect(report.code, report.stdout.slice(0, 500)).toBe(0);
  }, 180_000);
});
