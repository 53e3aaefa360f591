import { resolve } from 'node:path';
import { apiBench } from '../../bench/api-bench.js';
import { auditBench } from '../../bench/audit-bench.js';
import { formatFigures } from '../../bench/bench-output.js';
import { migrateBench } from '../../bench/migrate-bench.js';
import { DomicileError } from '../errors/domicile-error.js';
import { loadLatencyFile } from '../wan/load-latency.js';
import { defaultLatencyFile } from './cli-options.js';

export interface BenchOptions {
  json: boolean;
  seconds: number;
  /** bench migrate: users, records per user, users per batch, writes per second, durability. */
  users?: number | undefined;
  records?: number | undefined;
  batchSize?: number | undefined;
  writes?: number | undefined;
  durability?: 'full' | 'normal' | undefined;
  /** bench migrate: the regions' backend, and the PostgreSQL server for it. */
  store?: 'sqlite' | 'postgres' | undefined;
  pgUrl?: string | undefined;
  /** bench flash-sale: the sale's stock. */
  units?: number | undefined;
  /** bench flash-sale: run the sale through 1 … N gateway processes sharing a PostgreSQL directory (at --pg-url). */
  gateways?: number | undefined;
  /** bench latency: the latency file (default: examples/latency.yaml). */
  latency?: string | undefined;
}

const benches = ['api', 'migrate', 'audit', 'dashboard', 'flash-sale', 'photo-sync', 'latency'] as const;

/** `domicile bench NAME`: figures beside a baseline measured in the same run. */
export async function runBench(name: string, options: BenchOptions): Promise<number> {
  if (!Number.isFinite(options.seconds) || options.seconds < 1 || options.seconds > 600) {
    throw new DomicileError('BAD_REQUEST', `--seconds must be a number from 1 to 600, not "${options.seconds}"`);
  }
  // Progress goes to stderr so that --json leaves one JSON object alone on stdout.
  const log = (line: string) => process.stderr.write(`${line}\n`);
  switch (name) {
    case 'api': {
      const store = options.store ?? 'sqlite';
      const report = await apiBench({
        seconds: options.seconds,
        connections: 32,
        users: 100,
        recordsPerUser: 20,
        store,
        postgresUrl: options.pgUrl ?? 'postgres://postgres@127.0.0.1:5432/test',
        log,
      });
      process.stdout.write(
        options.json
          ? `${JSON.stringify(report)}\n`
          : formatFigures(
              `domicile bench api, ${store === 'postgres' ? 'regions on PostgreSQL beside SQLite regions, both at full durability' : 'SQLite regions'} (${report.machine.cpus} cores, Node ${report.machine.node})`,
              report.figures,
            ),
      );
      return 0;
    }
    case 'migrate': {
      const users = options.users ?? 1_000;
      const records = options.records ?? 100;
      const report = await migrateBench({
        users,
        recordsPerUser: records,
        valueBytes: 1_000,
        batchSize: options.batchSize ?? 32,
        writesPerSecond: options.writes ?? 200,
        durability: options.durability ?? 'full',
        store: options.store ?? 'sqlite',
        postgresUrl: options.pgUrl ?? 'postgres://postgres@127.0.0.1:5432/test',
        log,
      });
      const title = `domicile bench migrate: ${users} users × ${records} records of ~1 KB, batches of ${report.options.batchSize}, ${options.store === 'postgres' ? 'regions on PostgreSQL' : `SQLite regions, durability ${report.options.durability}`} (${report.machine.cpus} cores, Node ${report.machine.node})`;
      process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatFigures(title, report.figures));
      return report.writes.lostKeys === 0 && report.writes.rowCountDrift === 0 ? 0 : 1;
    }
    case 'audit': {
      const report = await auditBench({
        single: 2_000,
        batched: 20_000,
        batch: 100,
        durability: options.durability ?? 'full',
        log,
      });
      const title = `domicile bench audit: entries of ~${report.entryBytes} B, durability ${report.options.durability} (${report.machine.cpus} cores, Node ${report.machine.node})`;
      process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatFigures(title, report.figures));
      return 0;
    }
    case 'dashboard': {
      const { dashboardBench } = await import('../../bench/dashboard-bench.js');
      const report = await dashboardBench({ runs: 10, log });
      process.stdout.write(
        options.json
          ? `${JSON.stringify(report)}\n`
          : formatFigures(
              `domicile bench dashboard: headless Chromium against domicile up (${report.machine.cpus} cores, Node ${report.machine.node})`,
              report.figures,
            ),
      );
      return 0;
    }
    case 'flash-sale': {
      const units = options.units ?? 100_000;
      if (options.gateways !== undefined) {
        const { flashSaleGatewaysBench } = await import('../../bench/flash-sale-gateways.js');
        const report = await flashSaleGatewaysBench({
          units,
          buyersPerUnit: 1.1,
          retryShare: 0.05,
          connections: 100,
          gateways: options.gateways,
          postgresUrl: options.pgUrl ?? 'postgres://postgres@127.0.0.1:5432/test',
          log,
        });
        const title = `domicile bench flash-sale --gateways ${options.gateways}: ${units.toLocaleString('en-US')} units, ${Math.round(units * 1.1).toLocaleString('en-US')} buyers (5% try twice) over HTTP through 1 to ${options.gateways} \`domicile up\` sharing a PostgreSQL directory, ledger and regions (${report.machine.cpus} cores, Node ${report.machine.node}, load generator and PostgreSQL on the same machine)`;
        process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatFigures(title, report.figures));
        return report.runs.every(
          (r) => r.oversells === 0 && r.doubleSales === 0 && r.orders.lost === 0 && r.orders.misplaced === 0,
        )
          ? 0
          : 1;
      }
      const { flashSaleBench } = await import('../../bench/flash-sale-bench.js');
      const report = await flashSaleBench({
        units,
        buyersPerUnit: 1.1,
        retryShare: 0.05,
        connections: 100,
        durability: options.durability ?? 'full',
        log,
      });
      const title = `domicile bench flash-sale: ${units.toLocaleString('en-US')} units, ${Math.round(units * 1.1).toLocaleString('en-US')} buyers (5% try twice) over HTTP through domicile up, durability ${report.options.durability} (${report.machine.cpus} cores, Node ${report.machine.node}, load generator on the same machine)`;
      process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatFigures(title, report.figures));
      return report.oversells === 0 &&
        report.doubleSales === 0 &&
        report.orders.lost === 0 &&
        report.orders.misplaced === 0
        ? 0
        : 1;
    }
    case 'photo-sync': {
      const { photoSyncBench } = await import('../../bench/photo-sync-bench.js');
      const report = await photoSyncBench({ megabytes: 50, files: 3, parallel: 4, log });
      const title = `domicile bench photo-sync: ${report.options.files} files of ${report.options.megabytes} MB over HTTP through domicile up, chunks of 512 KiB, ${report.options.parallel} at a time (${report.machine.cpus} cores, Node ${report.machine.node})`;
      process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatFigures(title, report.figures));
      return 0;
    }
    case 'latency': {
      const { latencyBench } = await import('../../bench/latency-bench.js');
      const { formatLatencyReport } = await import('../../bench/latency-output.js');
      const file = resolve(options.latency ?? defaultLatencyFile);
      const latency = await loadLatencyFile(file);
      const report = await latencyBench({
        latency,
        samples: { 'store page': 10, 'account request': 20, 'photo sync': 4 },
        log,
      });
      const title = `domicile bench latency: the 2014 scenario before → phase 3 in WAN emulation (${latency.name}, ${file}); synthetic clients in every market at once (${report.machine.cpus} cores, Node ${report.machine.node}, ${report.machine.date})`;
      process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatLatencyReport(report, title));
      return 0;
    }
    default:
      throw new DomicileError('BAD_REQUEST', `no benchmark "${name}": run one of ${benches.join(', ')}`);
  }
}
