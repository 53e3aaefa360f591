import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.js';
import { type SpawnedServer, spawnServer, syntheticClientFlags } from '../../bench/spawn-server.js';
import { injectSender } from '../migrate/support/http-sender.js';
import { openPhase } from '../migrate/support/phase-platform.js';
import { RandomWriter, registerUsers, type TestUser, WriteModel } from '../migrate/support/random-writer.js';
import { domicileBin, runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

/** Screenshots of each run, kept by CI with the rest of test-output/. */
const shots = join(import.meta.dirname, '..', '..', 'test-output', 'screenshots');

/**
 * The operators' dashboard in real headless Chromium (Debian's, driven by playwright-core),
 * against a real `domicile up` on the scenario's phase 1 over users who wrote under `before`:
 * refused without the operator credential; with it, the page loads without a console error and
 * draws the scenario's regions; a migration started from the CLI shows its progress on the page
 * until it is cut over and then completed; pause and resume work from the page; and it fits a
 * narrow screen.
 */
describe('the dashboard', () => {
  const data = tempDir('dashboard');
  let server: SpawnedServer;
  let browser: Browser;
  let users: TestUser[] = [];

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    const p = await openPhase(data.path, 'before');
    const send = injectSender(() => p.app);
    users = await registerUsers(send, ['IN', 'HK', 'SG', 'US', 'MY'], 4, 'dash');
    await new RandomWriter(send, users, new WriteModel()).seed(6);
    await p.close();
    server = await spawnServer(
      [
        domicileBin,
        'up',
        '--data',
        data.path,
        '--port',
        '0',
        '--policy',
        join(examplesDir, 'phase1.yaml'),
        ...syntheticClientFlags,
      ],
      /gateway/,
    );
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    data.remove();
  });

  /** A fresh page on the dashboard, and every console error or uncaught exception it has had. */
  async function openPage(width = 1280): Promise<{ page: Page; consoleErrors: string[] }> {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(`${server.url}/dashboard/`);
    return { page, consoleErrors };
  }

  const operatorToken = () => readFileSync(join(data.path, 'secrets', 'operator.token'), 'utf8').trim();

  it("refuses a user's token and a wrong credential, and shows nothing", async () => {
    const { page } = await openPage();
    for (const token of [users[0]!.token, 'not-the-operator-credential']) {
      await page.getByLabel('Operator credential').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/Refused/);
      expect(await page.locator('#app').isHidden()).toBe(true);
    }
    const api = await page.evaluate(async () => (await fetch('/v1/ops/dashboard')).status);
    expect(api).toBe(401);
    await page.screenshot({ path: join(shots, 'refused.png') });
    await page.close();
  });

  it('shows the map of the regions, a migration started from the CLI until it completes, and pause and resume', async () => {
    const { page, consoleErrors } = await openPage();
    await page.getByLabel('Operator credential').fill(operatorToken());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('body[data-rendered=true]');
    const regions = await page
      .locator('#map circle.region')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-region')));
    expect(regions.sort()).toEqual([
      'br-saopaulo',
      'cn-beijing',
      'in-mumbai',
      'sg-singapore',
      'us-california',
      'us-oregon',
    ]);
    // Under phase 1 the international shop data still rests in Beijing: those markets are flagged.
    expect(await page.locator('#map [data-market="IN"]').getAttribute('class')).toContain('violation');
    expect(await page.getByRole('img', { name: /World map/ }).count()).toBe(1);
    await page.screenshot({ path: join(shots, 'before-migration.png'), fullPage: true });

    // A rate cap makes the move take seconds, so that the page can be seen following it.
    const started = await runCli([
      'migrate',
      'start',
      '--data',
      data.path,
      '--batch-size',
      '2',
      '--rate',
      '40',
      '--json',
    ]);
    expect(started.code, started.stderr).toBe(0);
    await expect
      .poll(() => page.locator('#migration-state').getAttribute('data-state'), { timeout: 10_000 })
      .toBe('running');
    await page.getByRole('button', { name: 'Pause the migration' }).click();
    await expect
      .poll(() => page.locator('#migration-state').getAttribute('data-state'), { timeout: 10_000 })
      .toBe('paused');
    expect(JSON.parse((await runCli(['migrate', 'status', '--data', data.path, '--json'])).stdout).state).toBe(
      'paused',
    );
    await page.getByRole('button', { name: 'Resume the migration' }).click();

    const seen = new Set<number>();
    for (let i = 0; i < 600; i++) {
      seen.add(Number(await page.locator('#migration-progress').getAttribute('value')));
      if ((await page.locator('#migration-state').getAttribute('data-state')) === 'cut-over') break;
      await page.waitForTimeout(100);
    }
    expect(await page.locator('#migration-state').getAttribute('data-state')).toBe('cut-over');
    expect(Number(await page.locator('#migration-progress').getAttribute('value'))).toBe(100);
    // The page followed it: progress was seen part-way, not only before and after.
    expect(
      [...seen].some((v) => v > 0 && v < 100),
      `progress values seen: ${[...seen].join(', ')}`,
    ).toBe(true);
    await expect.poll(() => page.locator('#map path.route').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, 'cut-over.png'), fullPage: true });

    const completed = await runCli(['migrate', 'complete', '--data', data.path, '--json']);
    expect(completed.code, completed.stderr).toBe(0);
    await expect
      .poll(() => page.locator('#migration-state').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('completed');
    await expect.poll(() => page.locator('#transfers tbody tr').count(), { timeout: 10_000 }).toBeGreaterThan(1);
    await expect.poll(() => page.locator('#map [data-market="IN"]').getAttribute('class')).toContain('compliant');
    expect(await page.locator('#audit').textContent()).not.toMatch(/TAMPERED/);
    await page.screenshot({ path: join(shots, 'completed.png'), fullPage: true });
    await page.close();
    expect(consoleErrors).toEqual([]);
  }, 120_000);

  it('fits a narrow screen: nothing wider than the viewport, controls reachable by name', async () => {
    const { page, consoleErrors } = await openPage(390);
    await page.getByLabel('Operator credential').fill(operatorToken());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('body[data-rendered=true]');
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    expect(overflow).toBeLessThanOrEqual(0);
    for (const name of ['Pause the migration', 'Resume the migration', 'Sign out of the dashboard'])
      expect(await page.getByRole('button', { name }).count()).toBe(1);
    await page.screenshot({ path: join(shots, 'narrow.png'), fullPage: true });
    await page.close();
    expect(consoleErrors).toEqual([]);
  });
});
