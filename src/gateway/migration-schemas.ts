import { z } from 'zod';
import type { TransferRecord } from '../migrate/coordinator-store.js';
import type { MigrationStatus } from '../migrate/migration-status.js';
import { batchSteps, migrationStates } from '../migrate/migration-types.js';
import type { MigrationPlan } from '../migrate/plan-migration.js';

/** What the operator API answers about migrations: their status, plans and transfers (strict: see http-schemas.ts). */

export const policyRef = z.strictObject({ name: z.string(), version: z.number() });

const side = z
  .strictObject({ version: z.number(), hash: z.string().describe('a short tag of the keyed hash of the value') })
  .nullable();

export const migrationStatus = z.strictObject({
  id: z.string(),
  state: z.enum(migrationStates),
  resumeState: z.enum(migrationStates).nullable().describe('what resume goes back to, when interrupted or failed'),
  policy: policyRef,
  services: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
  settings: z.strictObject({ batchSize: z.number(), rate: z.number() }),
  planned: z
    .strictObject({ users: z.number(), records: z.number(), bytes: z.number() })
    .describe("the plan's estimate when the migration started"),
  users: z.strictObject({
    total: z.number(),
    copied: z.number(),
    cutOver: z.number(),
    completed: z.number(),
    rolledBack: z.number(),
  }),
  batches: z.strictObject({ total: z.number(), byStep: z.partialRecord(z.enum(batchSteps), z.number()) }),
  moved: z
    .strictObject({ rows: z.number(), bytes: z.number() })
    .describe('rows and bytes (plaintext JSON) copied into destinations'),
  rate: z.strictObject({ rowsPerSecond: z.number(), bytesPerSecond: z.number(), usersPerSecond: z.number() }),
  etaSeconds: z.number().nullable(),
  lag: z.strictObject({ catchUp: z.number(), reverse: z.number() }).describe('change-log entries not applied yet'),
  pauses: z.strictObject({ count: z.number(), p50Ms: z.number(), p99Ms: z.number(), maxMs: z.number() }).nullable(),
  current: z
    .strictObject({
      batch: z.number(),
      service: z.string(),
      step: z.enum(batchSteps),
      from: z.string(),
      to: z.string(),
    })
    .nullable(),
  error: z.string().nullable(),
  mismatches: z.array(
    z.strictObject({
      userId: z.string(),
      collection: z.string(),
      key: z.string().describe('withheld, or * for a whole user'),
      source: side,
      destination: side,
      problem: z.string(),
    }),
  ),
  transfers: z.number(),
  warnings: z.array(z.string()),
  next: z.string().describe('what the operator can do next, in words'),
}) satisfies z.ZodType<MigrationStatus>;

export const migrationPlan = z.strictObject({
  policy: policyRef.describe('the policy the plan places data by'),
  fromPolicy: policyRef.nullable().describe('with from: the policy the plan moves away from'),
  services: z.array(z.string()),
  groups: z.array(
    z.strictObject({
      service: z.string(),
      market: z.string(),
      from: z.string(),
      to: z.string(),
      users: z.number(),
      records: z.number(),
      bytes: z.number(),
    }),
  ),
  totals: z.strictObject({ users: z.number(), records: z.number(), bytes: z.number() }),
}) satisfies z.ZodType<MigrationPlan>;

export const transferRecord = z.strictObject({
  migrationId: z.string(),
  batchId: z.number(),
  service: z.string(),
  from: z.string(),
  to: z.string(),
  policy: policyRef,
  users: z.array(z.string()),
  records: z.number(),
  bytes: z.number(),
  digest: z.string(),
  completedAt: z.number(),
}) satisfies z.ZodType<TransferRecord>;
