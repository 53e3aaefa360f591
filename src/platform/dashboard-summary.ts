import type { Checkpoint } from '../audit/checkpoint.js';
import { verifyLog } from '../audit/verify-log.js';
import type { TransferRecord } from '../migrate/coordinator-store.js';
import type { MigrationEngine } from '../migrate/migration-engine.js';
import type { MigrationStatus } from '../migrate/migration-status.js';
import { openMoves } from '../migrate/open-moves.js';
import { homeRegion, serviceIds } from '../policy/placement.js';
import type { Platform } from './platform.js';
import { type ResidencyReport, residencyReport } from './residency-report.js';

export interface DashboardSummary {
  generatedAt: string;
  policy: { name: string; version: number };
  services: string[];
  regions: Array<{
    id: string;
    name: string;
    provider: string;
    status: string;
    city: string;
    country: string;
    lat: number;
    lon: number;
    backend: string;
    live: boolean;
  }>;
  markets: Array<{
    country: string;
    name: string;
    jurisdiction: string;
    homes: Record<string, string | null>;
    compliance: 'compliant' | 'violation' | 'no-data';
  }>;
  residency: Pick<ResidencyReport, 'rows' | 'violations'>;
  migration: MigrationStatus | null;
  /** The current migration's routes (service, from → to): users in its batches so far, and how many are cut over. */
  routes: Array<{ service: string; from: string; to: string; users: number; cutOver: number }>;
  /** Cut-over pauses of the current migration's batches, in batch order (ms). */
  pauses: number[];
  /** The latest cross-border transfers, newest first. */
  transfers: TransferRecord[];
  consent: Array<{
    purpose: string;
    description: string;
    granted: number;
    denied: number;
    withdrawn: number;
    outdated: number;
  }>;
  audit: Array<{
    region: string;
    entries: number;
    checkpoint: Checkpoint | null;
    verified: boolean;
    problems: string[];
  }>;
}

type AuditSummary = DashboardSummary['audit'][number];

/**
 * The last verification of each region's log, per platform: the dashboard asks every few seconds,
 * and a log that has not grown since (its size and newest checkpoint unchanged) is not verified
 * again from its first entry. The authoritative check is `domicile audit verify`, which always
 * reads every entry.
 */
const verifications = new WeakMap<Platform, Map<string, AuditSummary>>();

async function verifiedLog(platform: Platform, region: string): Promise<AuditSummary> {
  const client = platform.region(region);
  let cache = verifications.get(platform);
  if (!cache) verifications.set(platform, (cache = new Map()));
  const known = cache.get(region);
  if (known) {
    const now = await client.readAudit({ afterSeq: Math.max(0, known.entries - 1), limit: 2 });
    const newest = now.checkpoints.at(-1) ?? null;
    if (now.size === known.entries && newest?.signature === known.checkpoint?.signature) return known;
  }
  const log = await verifyLog(region, (afterSeq, limit) => client.readAudit({ afterSeq, limit }));
  const summary = {
    region,
    entries: log.size,
    checkpoint: log.latest,
    verified: log.problems.length === 0,
    problems: log.problems,
  };
  cache.set(region, summary);
  return summary;
}

/**
 * Everything the operators' dashboard shows, in one answer: the policy's regions and markets
 * (each market coloured by whether its data rests where the policy allows), placement per
 * market × region × service, the migration and its cut-over pauses, recent transfers, consent
 * counts per purpose, and each region's audit log verified from its raw entries.
 */
export async function dashboardSummary(
  platform: Platform,
  engine: MigrationEngine | undefined,
): Promise<DashboardSummary> {
  const { policy } = platform;
  const report = await residencyReport(platform, engine ? await openMoves(engine.store) : []);
  const services = serviceIds(policy);
  const markets = policy.markets.map((m) => {
    const rows = report.rows.filter((r) => r.market === m.country);
    const homes: Record<string, string | null> = {};
    for (const s of services) {
      try {
        homes[s] = homeRegion(policy, m.country, s);
      } catch {
        homes[s] = null;
      }
    }
    const compliance = report.violations.some((v) => v.market === m.country)
      ? ('violation' as const)
      : rows.length > 0
        ? ('compliant' as const)
        : ('no-data' as const);
    return { country: m.country, name: m.name ?? m.country, jurisdiction: m.jurisdiction, homes, compliance };
  });
  const migration = (await engine?.status()) ?? null;
  const batches = migration && engine ? await engine.store.batches(migration.id) : [];
  const pauses = batches.filter((b) => b.pauseMs !== null).map((b) => b.pauseMs!);
  const routes = new Map<string, DashboardSummary['routes'][number]>();
  for (const b of batches) {
    const id = `${b.service}\u0000${b.source}\u0000${b.destination}`;
    const route = routes.get(id) ?? { service: b.service, from: b.source, to: b.destination, users: 0, cutOver: 0 };
    route.users += b.users;
    if (['cut-over', 'completing', 'completed'].includes(b.step)) route.cutOver += b.users;
    routes.set(id, route);
  }
  const transfers = engine ? (await engine.transfers()).slice(-20).reverse() : [];
  const consent = new Map<string, DashboardSummary['consent'][number]>();
  for (const p of policy.purposes)
    consent.set(p.id, { purpose: p.id, description: p.description, granted: 0, denied: 0, withdrawn: 0, outdated: 0 });
  const audit: DashboardSummary['audit'] = [];
  for (const [id, client] of platform.regions) {
    for (const s of await client.consentStats()) {
      const c = consent.get(s.purpose);
      if (!c) continue;
      c.granted += s.granted;
      c.denied += s.denied;
      c.withdrawn += s.withdrawn;
      c.outdated += s.outdated;
    }
    audit.push(await verifiedLog(platform, id));
  }
  return {
    generatedAt: new Date().toISOString(),
    policy: { name: policy.name, version: policy.version },
    services,
    regions: policy.regions.map((r) => ({
      id: r.id,
      name: r.name ?? r.id,
      provider: r.provider,
      status: r.status,
      city: r.location.city,
      country: r.location.country,
      lat: r.location.lat,
      lon: r.location.lon,
      backend: r.store.kind,
      live: platform.regions.has(r.id),
    })),
    markets,
    residency: { rows: report.rows, violations: report.violations },
    migration,
    routes: [...routes.values()],
    pauses,
    transfers,
    consent: [...consent.values()],
    audit,
  };
}
