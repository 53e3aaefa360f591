import { z } from 'zod';
import type { Checkpoint } from '../audit/checkpoint.js';
import type { DsarRequest } from '../dsar/dsar-requests.js';
import type { DsarExport } from '../dsar/dsar-service.js';
import type { DashboardSummary } from '../platform/dashboard-summary.js';
import type { ResidencyReport } from '../platform/residency-report.js';
import type { WhereReport } from '../platform/where-user.js';
import type { AuditPage } from '../region/region-client.js';
import type { TenancyStatus } from '../store/region-store.js';
import type { EdgeCacheStats } from './edge-cache.js';
import { consentLedger, homeEntry, recordReply } from './http-schemas.js';
import { migrationStatus, policyRef, transferRecord } from './migration-schemas.js';

/** What the operator API (and a user's own data subject requests) answer (strict: see http-schemas.ts). */

const tenancyStatus = z.enum(['home', 'fenced', 'moved', 'incoming']) satisfies z.ZodType<TenancyStatus>;

const residencyRow = z.strictObject({
  market: z.string(),
  region: z.string(),
  service: z.string(),
  users: z.number().describe('users whose data of the service rests in the region (tenancy or records)'),
  records: z.number(),
  bytes: z.number(),
  residue: z.number().describe('users whose rows still name them there though it does not serve them'),
  homed: z.number().describe('users the directory homes there'),
  allowed: z.boolean(),
});

const violation = z.strictObject({
  kind: z.enum(['data-outside-policy', 'home-outside-policy', 'residue']),
  market: z.string(),
  region: z.string(),
  service: z.string(),
  users: z.number(),
  records: z.number(),
  message: z.string(),
});

export const residencyReport = z.strictObject({
  policy: policyRef,
  generatedAt: z.string(),
  regions: z.array(z.strictObject({ id: z.string(), provider: z.string(), status: z.string(), city: z.string() })),
  rows: z.array(residencyRow),
  violations: z.array(violation),
  inMove: z
    .array(
      z.strictObject({
        migrationId: z.string(),
        market: z.string(),
        region: z.string(),
        destination: z.string(),
        service: z.string(),
        users: z.number(),
        message: z.string(),
      }),
    )
    .describe('users whose source rows an unfinished migration keeps for its roll-back window: not a violation'),
}) satisfies z.ZodType<ResidencyReport>;

export const whereReport = z.strictObject({
  userId: z.string(),
  market: z.string(),
  homes: z.array(homeEntry),
  holdings: z
    .array(
      z.strictObject({
        region: z.string(),
        services: z.array(
          z.strictObject({
            service: z.string(),
            market: z.string().describe("'' when the region has no tenancy of the user's service"),
            status: z.union([tenancyStatus, z.literal('none')]),
            epoch: z.number(),
            movedTo: z.string().nullable(),
            keys: z.number(),
            collections: z.array(z.strictObject({ collection: z.string(), records: z.number(), bytes: z.number() })),
            changes: z.number(),
            residue: z.boolean().describe("the region does not serve the user's service, yet rows here name them"),
          }),
        ),
      }),
    )
    .describe('what each live region holds of the user'),
  residue: z.array(z.strictObject({ region: z.string(), service: z.string(), reason: z.string() })),
}) satisfies z.ZodType<WhereReport>;

export const checkpoint = z.strictObject({
  region: z.string(),
  size: z.number(),
  root: z.string().describe('hex'),
  at: z.number(),
  signature: z.string().describe('base64'),
}) satisfies z.ZodType<Checkpoint>;

export const auditPage = z.strictObject({
  region: z.string(),
  publicKey: z.string().describe("the region's Ed25519 public key (SPKI, base64), to pin"),
  size: z.number().describe('entries in the log now'),
  entries: z.array(z.strictObject({ seq: z.number(), entry: z.string(), leafHash: z.string() })),
  checkpoints: z.array(checkpoint),
}) satisfies z.ZodType<AuditPage>;

export const dsarRequest = z.strictObject({
  id: z.string(),
  userId: z.string(),
  kind: z.enum(['export', 'erase']),
  state: z.enum(['pending', 'completed', 'failed']),
  source: z.string().describe("who asked: 'user' or 'operator'"),
  createdAt: z.number(),
  updatedAt: z.number(),
  regionsDone: z.array(z.string()).describe('regions that have done their part'),
  error: z.string().nullable(),
}) satisfies z.ZodType<DsarRequest>;

export const dsarExport = z.strictObject({
  request: z.string(),
  userId: z.string(),
  market: z.string(),
  exportedAt: z.string(),
  homes: z.array(homeEntry),
  regions: z
    .array(
      z.strictObject({
        region: z.string(),
        services: z.array(
          z.strictObject({
            service: z.string(),
            market: z.string(),
            status: tenancyStatus,
            epoch: z.number(),
            records: z.array(
              recordReply.extend({
                content: z.string().optional().describe("a photo's manifest: where its bytes are downloaded"),
              }),
            ),
            consents: z.array(consentLedger),
            credentials: z
              .strictObject({ phone: z.string().optional(), email: z.string().optional() })
              .optional()
              .describe('login identifiers; never the password hash'),
          }),
        ),
      }),
    )
    .describe('per region that holds anything of the user'),
}) satisfies z.ZodType<DsarExport>;

export const dashboardSummary = z.strictObject({
  generatedAt: z.string(),
  policy: policyRef,
  services: z.array(z.string()),
  regions: z.array(
    z.strictObject({
      id: z.string(),
      name: z.string(),
      provider: z.string(),
      status: z.string(),
      city: z.string(),
      country: z.string(),
      lat: z.number(),
      lon: z.number(),
      backend: z.string(),
      live: z.boolean(),
    }),
  ),
  markets: z.array(
    z.strictObject({
      country: z.string(),
      name: z.string(),
      jurisdiction: z.string(),
      homes: z.record(z.string(), z.string().nullable()).describe('per service'),
      compliance: z.enum(['compliant', 'violation', 'no-data']),
    }),
  ),
  residency: z.strictObject({ rows: z.array(residencyRow), violations: z.array(violation) }),
  migration: migrationStatus.nullable(),
  routes: z.array(
    z.strictObject({ service: z.string(), from: z.string(), to: z.string(), users: z.number(), cutOver: z.number() }),
  ),
  pauses: z.array(z.number()).describe("cut-over pauses of the current migration's batches, in batch order (ms)"),
  transfers: z.array(transferRecord).describe('the latest cross-border transfers, newest first'),
  consent: z.array(
    z.strictObject({
      purpose: z.string(),
      description: z.string(),
      granted: z.number(),
      denied: z.number(),
      withdrawn: z.number(),
      outdated: z.number(),
    }),
  ),
  audit: z.array(
    z.strictObject({
      region: z.string(),
      entries: z.number(),
      checkpoint: checkpoint.nullable(),
      verified: z.boolean(),
      problems: z.array(z.string()),
    }),
  ),
}) satisfies z.ZodType<DashboardSummary>;

export const edgeCacheStats = z.strictObject({
  entries: z.number(),
  hits: z.number(),
  misses: z.number(),
  stores: z.number(),
  refused: z
    .number()
    .describe('responses it declined to store because they are private (personal data) or say no-store'),
}) satisfies z.ZodType<EdgeCacheStats>;

export const healthReply = z.strictObject({
  ok: z.boolean().describe('every region answered'),
  policy: policyRef,
  regions: z.array(
    z.strictObject({ region: z.string(), ok: z.boolean(), backend: z.enum(['sqlite', 'postgres']).optional() }),
  ),
});
