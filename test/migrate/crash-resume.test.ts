import { cpSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultPoints, type FaultPoint } from '../../src/migrate/migration-types.js';
import { residencyReport } from '../../src/platform/residency-report.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel, writable, type TestUser } from './support/random-writer.js';

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
      let crashed!: () => void;
      const crash = new Promise<void>((resolve) => (crashed = resolve));
      const fault = (p: FaultPoint): Promise<void> | void => {
        if (p !== point) return;
        crashed();
        return new Promise<void>(() => {});
      };
      current = await openPhase(data.path, 'phase1', { fault });
      let writer = new RandomWriter(send, users, model, { concurrency: 2 });
      writer.start();
      const { engine } = current;
      await engine.start({ batchSize: 3, rate: 300 });
      if (point === 'inside-complete') {
        expect((await Promise.race([engine.waitFor(), crash.then(() => undefined)]))?.state).toBe('cut-over');
        engine.complete();
      }
      await crash;
      await writer.stop();
      // The process "dies": nothing of it runs on, its files are left as they are.
      const dead = current;
      current = undefined;
      dead.engine.store.close();
      await dead.app.close();
      await dead.platform.close();

      current = await openPhase(data.path, 'phase1');
      const status = current.engine.status()!;
      expect(status.state).toBe('interrupted');
      expect(status.resumeState).toBe(point === 'inside-complete' ? 'completing' : 'running');
      // Interrupted, yet nobody is left fenced: every user writes at once.
      for (const user of users) {
        const [service, collection] = writable[0]!;
        const res = await send('PUT', `/v1/me/${service}/${collection}/probe`, user.token, { probe: true });
        expect(res.status, `${user.market}: ${JSON.stringify(res.json)}`).toBe(200);
        expect((await send('DELETE', `/v1/me/${service}/${collection}/probe`, user.token)).status).toBe(204);
      }
      writer = new RandomWriter(send, users, model, { concurrency: 2 });
      writer.start();
      try {
        current.engine.resume();
        if (point !== 'inside-complete') {
          const cut = await current.engine.waitFor();
          expect(cut?.error ?? null).toBeNull();
          expect(cut?.state).toBe('cut-over');
          current.engine.complete();
        }
        const done = await current.engine.waitFor(['completed', 'failed']);
        expect(done?.error ?? null).toBeNull();
        expect(done?.state).toBe('completed');
      } finally {
        await writer.stop();
      }
      expect(await modelProblems(send, users, model)).toEqual([]);
      expect((await residencyReport(current.platform)).violations).toEqual([]);
    } finally {
      await current?.close();
      data.remove();
    }
  });
});
