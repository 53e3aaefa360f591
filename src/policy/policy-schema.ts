import { z } from 'zod';
import { countryCode, countryCodeForm } from '../shared/country-code.js';

/**
 * The residency policy, as written in YAML. This zod schema is the single source of truth:
 * the loader validates with it, `schema/policy.schema.json` is generated from it (so editors
 * complete policy files), and the TypeScript types below are inferred from it.
 */

const id = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    'an id is lower-case letters, digits and dashes, starting with a letter (for example "sg-singapore")',
  );

export const regionStatuses = ['planned', 'active', 'draining'] as const;

export const storeSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('sqlite').describe('An embedded SQLite file under the data folder (the default).'),
      path: z.string().min(1).optional().describe('File path; defaults to <data>/regions/<id>/store.db.'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('postgres').describe("A PostgreSQL database in the region's own country."),
      url: z
        .string()
        .regex(
          /^postgres(ql)?:\/\//,
          'a PostgreSQL URL starts with postgres:// (for example postgres://127.0.0.1:5432/domicile_sg)',
        ),
    })
    .strict(),
]);

export const keySourceSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('keyring').describe("A keyring file that only the region's own node opens (the default)."),
      path: z.string().min(1).optional().describe('File path; defaults to <data>/regions/<id>/keyring.json.'),
    })
    .strict(),
]);

export const regionSchema = z
  .object({
    id: id.describe('Stable region id, for example cn-beijing.'),
    name: z.string().min(1).optional(),
    provider: z.string().min(1).describe('Who runs it: aws, xiaomi-idc, a local provider.'),
    location: z
      .object({
        city: z.string().min(1),
        country: countryCode('a country'),
        lat: z.number().min(-90).max(90),
        lon: z.number().min(-180).max(180),
      })
      .strict(),
    status: z
      .enum(regionStatuses)
      .describe('planned: holds nothing yet; active: may be a home; draining: being emptied.'),
    store: storeSchema.default({ kind: 'sqlite' }),
    keys: keySourceSchema.default({ kind: 'keyring' }),
  })
  .strict();

export const marketSchema = z
  .object({
    country: countryCode('a market'),
    name: z.string().min(1).optional(),
    jurisdiction: z.string().min(1).describe('Whose data protection rules apply, for example IN-IT-ACT-2000.'),
  })
  .strict();

export const categorySchema = z
  .object({
    id: id.describe('A kind of personal data; also the collection name in the records API.'),
    description: z.string().optional(),
    consent: id.optional().describe('The consent purpose a record of this category needs (default deny).'),
  })
  .strict();

export const serviceSchema = z
  .object({
    id: id.describe('A group of data that moves together: shop, account, messaging, cloud.'),
    description: z.string().optional(),
    categories: z.array(categorySchema).min(1),
  })
  .strict();

export const purposeSchema = z
  .object({
    id,
    description: z.string().min(1),
    notice: z
      .object({ id: z.string().min(1), version: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();

const marketRef = z.union([
  z.literal('*'),
  z.string().regex(countryCodeForm, 'a market is an ISO code in capitals or "*" for every unlisted market'),
]);
const serviceRef = z.union([z.literal('*'), id]);

export const placementRuleSchema = z
  .object({
    markets: z
      .array(marketRef)
      .min(1)
      .describe('ISO codes, or ["*"] for the default rule (markets no other rule names).'),
    services: z.array(serviceRef).min(1).describe('Service ids, or ["*"] for every service.'),
    regions: z.array(id).min(1).describe('Allowed regions, in order: the home is the first active one.'),
  })
  .strict();

export const policySchema = z
  .object({
    version: z.number().int().positive().describe('Raised on every change; recorded with every transfer.'),
    name: z.string().min(1),
    description: z.string().optional(),
    regions: z.array(regionSchema).min(1),
    markets: z.array(marketSchema).min(1),
    purposes: z.array(purposeSchema).default([]),
    services: z.array(serviceSchema).min(1),
    placement: z.array(placementRuleSchema).min(1),
  })
  .strict();

export type PolicyInput = z.input<typeof policySchema>;
export type Policy = z.output<typeof policySchema>;
export type Region = z.output<typeof regionSchema>;
export type RegionStatus = (typeof regionStatuses)[number];
export type Market = z.output<typeof marketSchema>;
export type Service = z.output<typeof serviceSchema>;
export type Category = z.output<typeof categorySchema>;
export type PlacementRule = z.output<typeof placementRuleSchema>;
export type StoreConfig = z.output<typeof storeSchema>;
export type KeySourceConfig = z.output<typeof keySourceSchema>;
