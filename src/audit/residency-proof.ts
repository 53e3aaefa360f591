import { createHash } from 'node:crypto';
import { z } from 'zod';
import { decodeEntry } from './audit-event.js';
import { checkpointSigned } from './checkpoint.js';
import { leafHash, verifyInclusion } from './merkle.js';
import type { Witness } from './verify-log.js';

/**
 * A residency proof: the placement report (per market × region × service, every violation) and,
 * per region, its signed checkpoint with the key that signed it, and the log entry recording the
 * report's hash with its inclusion proof, as `domicile report residency --proof` writes it after
 * verifying every region's log. Checked offline by `domicile audit verify --proof`: every
 * signature, that every region's log holds this very report, the report's own consistency, and
 * the keys against the auditor's pins when given.
 */
export const residencyProofSchema = z
  .object({
    format: z.literal('domicile/residency-proof/v1'),
    generatedAt: z.string(),
    report: z.object({
      policy: z.object({ name: z.string(), version: z.number() }),
      generatedAt: z.string(),
      regions: z.array(z.object({ id: z.string(), provider: z.string(), status: z.string(), city: z.string() })),
      rows: z.array(
        z.object({
          market: z.string(),
          region: z.string(),
          service: z.string(),
          users: z.number(),
          records: z.number(),
          bytes: z.number(),
          residue: z.number().optional(),
          homed: z.number(),
          allowed: z.boolean(),
        }),
      ),
      violations: z.array(
        z.object({
          kind: z.enum(['data-outside-policy', 'home-outside-policy', 'residue']),
          market: z.string(),
          region: z.string(),
          service: z.string(),
          users: z.number(),
          records: z.number(),
          message: z.string(),
        }),
      ),
      /** Users an unfinished migration keeps in their source for its roll-back window (older proofs have none). */
      inMove: z
        .array(
          z.object({
            migrationId: z.string(),
            market: z.string(),
            region: z.string(),
            destination: z.string(),
            service: z.string(),
            users: z.number(),
            message: z.string(),
          }),
        )
        .optional(),
    }),
    regions: z.array(
      z.object({
        region: z.string(),
        publicKey: z.string(),
        entries: z.number().int().nonnegative(),
        checkpoint: z.object({
          region: z.string(),
          size: z.number().int().nonnegative(),
          root: z.string(),
          at: z.number(),
          signature: z.string(),
        }),
        /** The region's log entry recording this report's hash, and its inclusion proof under the checkpoint. */
        report: z.object({
          seq: z.number().int().positive(),
          entry: z.string(),
          proof: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
        }),
      }),
    ),
  })
  .strict();

export type ResidencyProof = z.infer<typeof residencyProofSchema>;

/** The hash a region's log records for a report: SHA-256 of its JSON, as the proof file holds it. */
export function reportHash(report: unknown): string {
  return createHash('sha256').update(JSON.stringify(report)).digest('hex');
}

/**
 * Problems with a proof file's contents; empty when it holds. `rawReport` is the report as the
 * file holds it (its hash is over those bytes, not over a parsed copy).
 */
export function checkResidencyProof(
  proof: ResidencyProof,
  rawReport: unknown,
  pins: Record<string, Witness> = {},
): string[] {
  const problems: string[] = [];
  const hash = reportHash(rawReport);
  // Every region the report names, every pinned one and every one it places anyone in must sign it.
  const listed = new Set(proof.regions.map((r) => r.region));
  if (proof.regions.length === 0)
    problems.push("the proof holds no region's signature: nothing vouches for its report");
  if (listed.size !== proof.regions.length) problems.push('the proof lists a region twice');
  const placed = proof.report.rows
    .filter((r) => r.users > 0 || r.records > 0 || r.bytes > 0 || r.homed > 0)
    .map((r) => r.region);
  const live = proof.report.regions.filter((r) => r.status !== 'planned').map((r) => r.id);
  for (const region of new Set([...live, ...Object.keys(pins), ...placed])) {
    if (!listed.has(region))
      problems.push(
        `region ${region} does not sign the proof, though ${pins[region] ? 'it is pinned' : placed.includes(region) ? 'the report places data there' : 'the report lists it as running'}`,
      );
  }
  for (const r of proof.regions) {
    const entry = decodeEntry(Buffer.from(r.report.entry, 'utf8'));
    if (entry?.event.type !== 'residency-report' || entry.event.hash !== hash || entry.seq !== r.report.seq) {
      problems.push(
        `region ${r.region}: its log does not record this report (the report was changed after it was issued, or the entry is another's)`,
      );
    } else if (
      !verifyInclusion(
        leafHash(Buffer.from(r.report.entry, 'utf8')),
        r.report.seq - 1,
        r.checkpoint.size,
        r.report.proof.map((h) => Buffer.from(h, 'hex')),
        Buffer.from(r.checkpoint.root, 'hex'),
      )
    ) {
      problems.push(
        `region ${r.region}: the report's entry is not proven to be in the log signed at size ${r.checkpoint.size}`,
      );
    }
    if (r.checkpoint.region !== r.region)
      problems.push(`region ${r.region}: its checkpoint names region ${r.checkpoint.region}`);
    if (!checkpointSigned(r.checkpoint, r.publicKey))
      problems.push(
        `region ${r.region}: the checkpoint of size ${r.checkpoint.size} does not carry the signature of the key beside it: the proof was changed`,
      );
    const pin = pins[r.region];
    if (pin && pin.publicKey !== r.publicKey)
      problems.push(`region ${r.region}: signed with a key other than the one pinned for it`);
    if (pin && r.checkpoint.size < pin.checkpoint.size)
      problems.push(
        `region ${r.region}: its checkpoint (${r.checkpoint.size} entries) is older than the one pinned (${pin.checkpoint.size})`,
      );
  }
  const regionsInProof = new Set(proof.regions.map((r) => r.region));
  for (const row of proof.report.rows) {
    if (row.records > 0 && !regionsInProof.has(row.region))
      problems.push(`the report places data in region ${row.region}, which has no checkpoint in the proof`);
  }
  const outside = proof.report.rows.filter((r) => !r.allowed && (r.records > 0 || r.users > 0));
  for (const row of outside) {
    if (
      !proof.report.violations.some(
        (v) => v.market === row.market && v.region === row.region && v.service === row.service,
      )
    ) {
      problems.push(
        `the report's row ${row.market} × ${row.region} × ${row.service} is outside the policy but not listed as a violation: the proof was changed`,
      );
    }
  }
  return problems;
}
