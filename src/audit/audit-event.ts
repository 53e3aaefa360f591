import { z } from 'zod';

/**
 * What a region's audit log records. Entries hold no plaintext personal data: users appear as
 * their pseudonymous ids, notices and digests as hashes; nothing a user wrote is ever here.
 * One zod schema checks events from any caller (the coordinator reaches a region over HTTP).
 */
const id = z
  .string()
  .min(1)
  .max(128)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point: ids may hold none
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters');
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lower-case hex');
const users = z.array(id).max(10_000);
/** Words a policy chose (a jurisdiction, a notice's id and version, a policy's name): any text. */
const text = z.string().min(1).max(2_000);

export const auditEventSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('consent'),
      user: id,
      service: id,
      purpose: id,
      decision: z.enum(['grant', 'deny', 'withdraw']),
      notice: z.object({ id: text, version: text, hash: hex64 }).strict().nullable(),
      jurisdiction: text,
      method: id,
      source: id,
    })
    .strict(),
  z
    .object({
      type: z.literal('transfer'),
      migration: id,
      batch: z.number().int().nonnegative(),
      service: id,
      from: id,
      to: id,
      /** This region's side of it. */
      role: z.enum(['source', 'destination']),
      /**
       * copied: the data crossed (decrypted in the source, sealed in the destination); completed:
       * the source was purged, the move is final; rolled-back: it crossed back to the source.
       */
      stage: z.enum(['copied', 'completed', 'rolled-back']),
      users,
      records: z.number().int().nonnegative(),
      bytes: z.number().int().nonnegative(),
      digest: z.string().max(64),
      policy: z.object({ name: text, version: z.number().int().positive() }).strict(),
    })
    .strict(),
  z
    .object({
      /**
       * A message (or its read receipt) delivered from one region to another: a sender's words
       * sealed in the recipient's region, or a recipient's receipt in the sender's. Its size, never its text.
       */
      type: z.literal('delivery'),
      kind: z.enum(['message', 'receipt']),
      message: id,
      service: id,
      from: id,
      to: id,
      role: z.enum(['source', 'destination']),
      sender: id,
      recipient: id,
      bytes: z.number().int().nonnegative(),
    })
    .strict(),
  z
    .object({
      type: z.literal('dsar'),
      request: id,
      kind: z.enum(['export', 'erase']),
      user: id,
    })
    .strict(),
  z
    .object({
      type: z.literal('key-shred'),
      users,
      /** Key scopes: 'service/category', 'service/*' for every key of a service, '*' for all of a user's. */
      scopes: z.array(z.string().min(1).max(200)).min(1).max(100),
      reason: z.enum(['consent-withdrawn', 'migration-complete', 'migration-rollback', 'erasure']),
    })
    .strict(),
  z
    .object({
      /** A residency report was issued as a proof: its hash, so the proof's report cannot be changed afterwards. */
      type: z.literal('residency-report'),
      hash: hex64,
      violations: z.number().int().nonnegative(),
      policy: z.object({ name: text, version: z.number().int().positive() }).strict(),
    })
    .strict(),
  z
    .object({
      /**
       * The region's store has every record key sealed (an upgrade from plaintext keys ran to its
       * end, or there was nothing to upgrade): from then on a row without a sealed key is put
       * there by someone, never upgraded (see record-key-upgrade.ts).
       */
      type: z.literal('record-keys-sealed'),
      records: z.number().int().nonnegative(),
      changes: z.number().int().nonnegative(),
    })
    .strict(),
  z
    .object({
      type: z.literal('policy'),
      name: text,
      version: z.number().int().positive(),
      hash: hex64,
    })
    .strict(),
]);

export type AuditEvent = z.infer<typeof auditEventSchema>;

/** The bytes of a log entry: its position, time and region bound in with the event. */
export function encodeEntry(seq: number, at: number, region: string, event: AuditEvent): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, seq, at, region, event }), 'utf8');
}

export interface DecodedEntry {
  v: number;
  seq: number;
  at: number;
  region: string;
  event: AuditEvent;
}

const entrySchema = z
  .object({
    v: z.literal(1),
    seq: z.number().int().positive(),
    at: z.number().int().nonnegative(),
    region: id,
    event: auditEventSchema,
  })
  .strict();

/** Parses an entry's bytes; undefined when they are not an entry (a verifier reports it). */
export function decodeEntry(entry: Buffer): DecodedEntry | undefined {
  try {
    const parsed = entrySchema.safeParse(JSON.parse(entry.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
