import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { dashboardFiles } from '../src/gateway/routes/dashboard-routes.js';
import { percentile } from '../src/migrate/migration-status.js';
import type { Figure } from './bench-output.js';
import { type Machine, machine } from './bench-output.js';
import { launchChromium } from './chromium.js';
import { spawnServer, syntheticClientFlags } from './spawn-server.js';
import { tempFolder } from './temp-folder.js';

export interface DashboardBenchReport {
  machine: Machine;
  bundle: { files: number; bytes: number; gzipBytes: number };
  firstRenderMs: { p50: number; max: number; runs: number };
  staticPageMs: { p50: number; max: number; runs: number };
  figures: Figure[];
}

/**
 * `domicile bench dashboard`: the built dashboard's size (what a browser downloads on a first
 * visit, raw and gzip), and its first render in headless Chromium against a real `domicile up`
 * (navigation start to the map and every table drawn from the operator API), beside the same
 * page's HTML and CSS alone (JavaScript off) from the same server in the same run.
 */
export async function dashboardBench(options: {
  runs: number;
  log: (line: string) => void;
}): Promise<DashboardBenchReport> {
  const root = dashboardFiles();
  if (!root) throw new Error('the dashboard is not built: run `npm run build` first');
  const files = [join(root, 'index.html'), ...readdirSync(join(root, 'assets')).map((f) => join(root, 'assets', f))];
  const bundle = {
    files: files.length,
    bytes: files.reduce((n, f) => n + statSync(f).size, 0),
    gzipBytes: files.reduce((n, f) => n + gzipSync(readFileSync(f)).length, 0),
  };

  const data = tempFolder('bench-dashboard');
  const bin = join(root, '..', '..', 'bin', 'domicile.js');
  options.log('starting domicile up and Chromium…');
  const server = await spawnServer([bin, 'up', '--data', data.path, '--port', '0', ...syntheticClientFlags], /gateway/);
  const browser = await launchChromium();
  try {
    const token = readFileSync(join(data.path, 'secrets', 'operator.token'), 'utf8').trim();
    const url = `${server.url}/dashboard/`;
    const render: number[] = [];
    const html: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      const context = await browser.newContext();
      // Signed in already, as on a return visit within the session: the render is what is timed.
      await context.addInitScript(`sessionStorage.setItem('domicile-operator-token', ${JSON.stringify(token)})`);
      const page = await context.newPage();
      await page.goto(url);
      await page.waitForSelector('body[data-rendered=true]');
      render.push(Number(await page.evaluate("performance.getEntriesByName('dashboard:first-render')[0].startTime")));
      await context.close();
      const bare = await browser.newContext({ javaScriptEnabled: false });
      const plain = await bare.newPage();
      await plain.goto(url, { waitUntil: 'load' });
      html.push(Number(await plain.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")));
      await bare.close();
    }
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const firstRenderMs = { p50: percentile(sorted(render), 50), max: Math.max(...render), runs: render.length };
    const staticPageMs = { p50: percentile(sorted(html), 50), max: Math.max(...html), runs: html.length };
    return {
      machine: machine(),
      bundle,
      firstRenderMs,
      staticPageMs,
      figures: [
        { name: `dashboard bundle (${bundle.files} files)`, value: bundle.bytes / 1024, unit: 'kB' },
        { name: 'dashboard bundle, gzip', value: bundle.gzipBytes / 1024, unit: 'kB' },
        {
          name: `first render p50 (${render.length} runs)`,
          value: firstRenderMs.p50,
          unit: 'ms',
          baseline: { name: 'HTML and CSS alone', value: staticPageMs.p50 },
        },
        { name: 'first render max', value: firstRenderMs.max, unit: 'ms' },
      ],
    };
  } finally {
    await browser.close();
    await server.stop();
    data.remove();
  }
}
