import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';
import type { MigrationStatus } from '../migrate/migration-status.js';
import type { PlanGroup } from '../migrate/plan-migration.js';
import { residencyReport } from '../platform/residency-report.js';
import { migrateToCompletion, openScenarioPhase, scenarioPhases } from '../scenario/scenario-phase.js';
import { DemoTraffic, type DemoUser } from './demo-traffic.js';
import { formatBytes } from './format-migration.js';

export interface DemoOptions {
  json: boolean;
  /** Users registered per market (default 4). */
  usersPerMarket: number;
  /** Where the data goes (default: a temporary folder, removed at the end). */
  data?: string | undefined;
}

export interface DemoPhase {
  phase: string;
  policy: { name: string; version: number; description: string };
  moved: Array<{ service: string; to: string; markets: string[]; users: number }>;
  migration: {
    id: string;
    batches: number;
    rows: number;
    bytes: number;
    seconds: number;
    pauses: MigrationStatus['pauses'];
    transfers: number;
  } | null;
  traffic: { writes: number; reads: number; refused: number; staleReads: number; errors: number; lost: number };
  residency: { violations: number; messages: string[] };
}

/** What moved, as the articles would say it: per service and destination, the markets. */
function summarise(groups: readonly PlanGroup[]): DemoPhase['moved'] {
  const out = new Map<string, DemoPhase['moved'][number]>();
  for (const g of groups) {
    if (g.users === 0) continue;
    const id = `${g.service}\u0000${g.to}`;
    const entry = out.get(id) ?? { service: g.service, to: g.to, markets: [], users: 0 };
    if (!entry.markets.includes(g.market)) entry.markets.push(g.market);
    entry.users += g.users;
    out.set(id, entry);
  }
  return [...out.values()];
}

function formatPhase(p: DemoPhase): string {
  const lines = [`${p.phase}: ${p.policy.description} (policy "${p.policy.name}", version ${p.policy.version})`];
  if (p.moved.length === 0) lines.push('  moved      nothing');
  for (const m of p.moved)
    lines.push(`  moved      ${m.service} of ${m.markets.join(', ')} → ${m.to} (${m.users} users)`);
  if (p.migration) {
    const { pauses } = p.migration;
    lines.push(
      `  migration  ${p.migration.rows} rows (${formatBytes(p.migration.bytes)}) in ${p.migration.batches} batches, ${p.migration.seconds.toFixed(1)} s; ${p.migration.transfers} transfers recorded`,
    );
    lines.push(
      `  cut-over   ${pauses ? `pauses p50 ${pauses.p50Ms.toFixed(1)} ms, p99 ${pauses.p99Ms.toFixed(1)} ms, max ${pauses.maxMs.toFixed(1)} ms` : '-'}`,
    );
  }
  const t = p.traffic;
  lines.push(
    `  traffic    ${t.writes} writes acknowledged, ${t.lost} lost; ${t.reads} reads, ${t.staleReads} stale; ${t.refused} refused while fenced, ${t.errors} errors`,
  );
  lines.push(
    `  residency  ${p.residency.violations === 0 ? `clean: every record rests where "${p.policy.name}" allows` : `${p.residency.violations} violation(s): ${p.residency.messages.join('; ')}`}`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * `domicile demo`: replays the 2014 scenario. Users of every market register and write under
 * `before` (everything in Beijing); then the same data folder is run under phase1, phase2 and
 * phase3 in turn, each phase's migration going to completion while every market's users keep
 * writing and reading through the gateway. Per phase: what moved, the cut-over pauses, the
 * writes acknowledged and lost (0), stale reads (0), and the residency report.
 * Exit code 1 if anything was lost, read stale, or rests outside the policy.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  if (!Number.isSafeInteger(options.usersPerMarket) || options.usersPerMarket < 1 || options.usersPerMarket > 100) {
    throw new DomicileError(
      'BAD_REQUEST',
      `--users-per-market must be a whole number from 1 to 100, not ${options.usersPerMarket}`,
    );
  }
  const temp = options.data === undefined ? mkdtempSync(join(tmpdir(), 'domicile-demo-')) : undefined;
  const dataDir = temp === undefined ? resolve(options.data!) : join(temp, 'data');
  const say = (text: string) => {
    if (!options.json) process.stdout.write(text);
  };
  const report: DemoPhase[] = [];
  try {
    let current = await openScenarioPhase(dataDir, 'before');
    const app = () => current.app;
    const users: DemoUser[] = [];
    for (const market of current.platform.policy.markets.map((m) => m.country)) {
      for (let i = 0; i < options.usersPerMarket; i++) {
        const res = await current.app.inject({
          method: 'POST',
          url: '/v1/accounts',
          payload: {
            email: `demo-${market.toLowerCase()}-${i}-${Date.now()}@example.com`,
            password: 'demo-password',
            market,
          },
        });
        if (res.statusCode !== 201)
          throw new DomicileError('INTERNAL', `the demo could not register a ${market} user: ${res.body}`);
        users.push({ ...(res.json() as { userId: string; token: string }), market });
      }
    }
    const traffic = new DemoTraffic(app, users);
    await traffic.seed(4);
    say(
      `before: ${users.length} users in ${new Set(users.map((u) => u.market)).size} markets registered and wrote; everything rests in Beijing\n\n`,
    );
    await current.close();

    for (const phase of scenarioPhases) {
      current = await openScenarioPhase(dataDir, phase);
      const { engine, platform } = current;
      const before = { ...traffic.counts };
      traffic.start();
      let migration: DemoPhase['migration'] = null;
      let moved: DemoPhase['moved'] = [];
      try {
        moved = summarise((await engine.plan()).groups);
        if (moved.length > 0) {
          const started = performance.now();
          const done = await migrateToCompletion(engine, phase, 8);
          migration = {
            id: done.id,
            batches: done.batches.total,
            rows: done.moved.rows,
            bytes: done.moved.bytes,
            seconds: (performance.now() - started) / 1000,
            pauses: done.pauses,
            transfers: done.transfers,
          };
        }
      } finally {
        await traffic.stop();
      }
      const residency = await residencyReport(platform);
      const c = traffic.counts;
      const entry: DemoPhase = {
        phase,
        policy: {
          name: platform.policy.name,
          version: platform.policy.version,
          description: platform.policy.description ?? '',
        },
        moved,
        migration,
        traffic: {
          writes: c.writes - before.writes,
          reads: c.reads - before.reads,
          refused: c.refused - before.refused,
          staleReads: c.staleReads - before.staleReads,
          errors: c.errors - before.errors,
          lost: await traffic.lost(),
        },
        residency: { violations: residency.violations.length, messages: residency.violations.map((v) => v.message) },
      };
      report.push(entry);
      say(`${formatPhase(entry)}\n`);
      await current.close();
    }
  } finally {
    if (temp !== undefined) rmSync(temp, { recursive: true, force: true });
  }
  const clean = report.every(
    (p) => p.traffic.lost === 0 && p.traffic.staleReads === 0 && p.traffic.errors === 0 && p.residency.violations === 0,
  );
  if (options.json) process.stdout.write(`${JSON.stringify({ phases: report, clean })}\n`);
  else say(clean ? 'Nothing lost, nothing stale, nothing outside the policy.\n' : 'PROBLEMS: see above.\n');
  return clean ? 0 : 1;
}
