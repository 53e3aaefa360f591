import { cpSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultPoint, faultPoints } from '../../src/migrate/migration-types.js';
import { residencyReport } from '../../src/platform/residency-report.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { abandon, crashAt, resumeToCompletion, runUntilCrash } from './support/migration-runs.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import {
  modelProblems,
  RandomWriter,
  registerUsers,
  type TestUser,
  WriteModel,
  writable,
} from './support/random-writer.js';

/**
 * A crash at each named step, in process: the fault hook never returns (nothing after that
 * point runs, as after a SIGKILL), the platform is abandoned, and the same data folder is
 * opened again. The migration shows as interrupted, no user is left fenced, and `resume`
 * finishes it with every acknowledged write served as acknowledged. The real SIGKILL of a
 * `domicile up` process is in kill-resume.e2e.test.ts.
 */
describe('a crash at each named step, in process', () => {
  const seed = tempDir('migrate-crash-seed');
  const seedModel = new WriteModel();
  let users: TestUser[] = [];
  beforeAll(async () => {
    const before = await openPhase(seed.path, 'before');
    const send = injectSender(() => before.app);
    users = await registerUsers(send, ['CN', 'HK', 'IN', 'MY', 'US'], 2, 'crash');
    await new RandomWriter(send, users, seedModel).seed(4);
    await before.close();
  });
  afterAll(() => seed.remove());

  it.each(faultPoints)('%s: resumes and finishes with no lost and no duplicated write', async (point: FaultPoint) => {
    const data = tempDir(`migrate-crash-${point}`);
    cpSync(seed.path, data.path, { recursive: true });
    const model = seedModel.clone();
    let current: PhasePlatform | undefined;
    const send = injectSender(() => current!.app);
    try {
      const { fault, crashed: crash } = crashAt(point);
      current = await openPhase(data.path, 'phase1', { fault });
      const { engine } = current;
      await new RandomWriter(send, users, model, { concurrency: 2 }).during(() =>
        runUntilCrash(engine, point, crash, { batchSize: 3, rate: 300 }),
      );
      const dead = current;
      current = undefined;
      await abandon(dead);

      current = await openPhase(data.path, 'phase1');
      const status = (await current.engine.status())!;
      expect(status.state).toBe('interrupted');
      expect(status.resumeState).toBe(point === 'inside-complete' ? 'completing' : 'running');
      // Interrupted, yet nobody is left fenced: every user writes at once.
      for (const user of users) {
        const [service, collection] = writable[0]!;
        const res = await send('PUT', `/v1/me/${service}/${collection}/probe`, user.token, { probe: true });
        expect(res.status, `${user.market}: ${JSON.stringify(res.json)}`).toBe(200);
        expect((await send('DELETE', `/v1/me/${service}/${collection}/probe`, user.token)).status).toBe(204);
      }
      await new RandomWriter(send, users, model, { concurrency: 2 }).during(() =>
        resumeToCompletion(current!.engine, point),
      );
      expect(await modelProblems(send, users, model)).toEqual([]);
      expect((await residencyReport(current.platform)).violations).toEqual([]);
    } finally {
      await current?.close();
      data.remove();
    }
  });
});
