import { readFileSync, writeFileSync } from 'node:fs';
import { inclusionProof, verifyInclusion } from '../audit/merkle.js';
import {
  checkResidencyProof,
  type ResidencyProof,
  reportHash,
  residencyProofSchema,
} from '../audit/residency-proof.js';
import { type LogVerification, verifyLog, type Witness } from '../audit/verify-log.js';
import { loadWitnesses, saveWitnesses, witnessFile } from '../audit/witness-file.js';
import { DomicileError } from '../errors/domicile-error.js';
import { formatTable } from '../shared/format-table.js';
import { type OperatorAccess, type OperatorApi, openOperatorApi } from './operator-api.js';

export interface AuditOptions {
  json: boolean;
  /** The witness file (default <data>/audit/witness.json). */
  witness?: string | undefined;
}

async function verifyAll(api: OperatorApi, witnesses: Record<string, Witness>): Promise<LogVerification[]> {
  const out: LogVerification[] = [];
  for (const region of await api.auditRegions()) {
    out.push(await verifyLog(region, (afterSeq, limit) => api.auditPage(region, afterSeq, limit), witnesses[region]));
  }
  return out;
}

/** Pins what verified: the next run requires each log to extend it. */
function pin(file: string, witnesses: Record<string, Witness>, results: readonly LogVerification[]): void {
  let changed = false;
  for (const r of results) {
    if (r.problems.length > 0 || r.latest === null) continue;
    witnesses[r.region] = { region: r.region, publicKey: r.publicKey, checkpoint: r.latest };
    changed = true;
  }
  if (changed) saveWitnesses(file, witnesses);
}

function summary(results: readonly LogVerification[]) {
  return results.map((r) => ({
    region: r.region,
    entries: r.size,
    root: r.root,
    publicKey: r.publicKey,
    checkpoint: r.latest,
    verified: r.problems.length === 0,
    problems: r.problems,
  }));
}

function formatResults(results: readonly LogVerification[]): string {
  const table = formatTable(
    ['region', 'entries', 'root', 'signed at', 'verdict'],
    results.map((r) => [
      r.region,
      r.size,
      `${r.root.slice(0, 16)}…`,
      r.latest ? new Date(r.latest.at).toISOString() : '-',
      r.problems.length === 0 ? 'verified' : 'TAMPERED',
    ]),
  );
  const problems = results.flatMap((r) => r.problems.map((p) => `  - ${r.region}: ${p}`));
  return `${table}\n\n${problems.length === 0 ? "Every region's audit log verifies and extends what the last verification saw." : `Tampering found:\n${problems.join('\n')}`}\n`;
}

/**
 * `domicile audit verify`: every region's log, from its raw entries, against its signed
 * checkpoints and the witness of the last verification; exit 1 on any tampering. With
 * --proof FILE, checks a residency proof offline instead.
 */
export async function runAuditVerify(
  access: OperatorAccess,
  options: AuditOptions & { proof?: string | undefined },
): Promise<number> {
  const file = options.witness ?? witnessFile(access.data);
  if (options.proof !== undefined) return verifyProofFile(options.proof, loadWitnesses(file), options.json);
  const witnesses = loadWitnesses(file);
  const api = await openOperatorApi({ ...access, readOnly: true });
  try {
    const results = await verifyAll(api, witnesses);
    for (const r of results) {
      if (!witnesses[r.region] && !options.json)
        process.stderr.write(
          `region ${r.region}: no earlier verification pinned in ${file}; pinning this one. Keep a copy of that file where the data's administrators cannot write, and pass it with --witness.\n`,
        );
    }
    pin(file, witnesses, results);
    process.stdout.write(options.json ? `${JSON.stringify({ regions: summary(results) })}\n` : formatResults(results));
    return results.every((r) => r.problems.length === 0) ? 0 : 1;
  } finally {
    await api.close();
  }
}

function verifyProofFile(path: string, pins: Record<string, Witness>, json: boolean): number {
  let proof: ResidencyProof;
  let raw: { report?: unknown };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as { report?: unknown };
    proof = residencyProofSchema.parse(raw);
  } catch (err) {
    throw new DomicileError(
      'BAD_REQUEST',
      `${path} is not a residency proof (as \`domicile report residency --proof\` writes): ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
  const problems = checkResidencyProof(proof, raw.report, pins);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ proof: path, valid: problems.length === 0, problems, violations: proof.report.violations.length })}\n`,
    );
  else {
    process.stdout.write(
      problems.length === 0
        ? `${path}: valid. ${proof.regions.length} region checkpoints signed; ${proof.report.violations.length === 0 ? 'no violations' : `${proof.report.violations.length} violation(s)`} under policy "${proof.report.policy.name}" (version ${proof.report.policy.version}).\n`
        : `${path}: NOT valid:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
  }
  return problems.length === 0 ? 0 : 1;
}

/**
 * `domicile report residency --proof FILE`: verifies every region's log, records the report's
 * hash in each (so the report cannot be changed afterwards), verifies again, and writes the
 * report with each region's signed checkpoint and the inclusion proof of that entry. No proof is
 * written over logs that do not verify.
 */
export async function writeResidencyProof(
  access: OperatorAccess,
  path: string,
): Promise<{ proof: ResidencyProof | undefined; problems: string[]; report: ResidencyProof['report'] }> {
  const file = witnessFile(access.data);
  const witnesses = loadWitnesses(file);
  const api = await openOperatorApi({ ...access, readOnly: true });
  try {
    const report = await api.residency();
    const failures = (results: LogVerification[]) => results.flatMap((r) => r.problems.map((p) => `${r.region}: ${p}`));
    const before = failures(await verifyAll(api, witnesses));
    if (before.length > 0) return { proof: undefined, problems: before, report };
    const event = {
      type: 'residency-report' as const,
      hash: reportHash(report),
      violations: report.violations.length,
      policy: report.policy,
    };
    const seqs = new Map<string, number>();
    for (const region of await api.auditRegions()) seqs.set(region, await api.recordReport(region, event));
    const results = await verifyAll(api, witnesses);
    const problems = failures(results);
    if (problems.length > 0) return { proof: undefined, problems, report };
    pin(file, witnesses, results);
    const proof: ResidencyProof = {
      format: 'domicile/residency-proof/v1',
      generatedAt: new Date().toISOString(),
      report,
      regions: results.map((r) => {
        const seq = seqs.get(r.region)!;
        const checkpoint = r.latest!;
        return {
          region: r.region,
          publicKey: r.publicKey,
          entries: r.size,
          checkpoint,
          report: {
            seq,
            entry: r.entries[seq - 1]!,
            proof: inclusionProof(r.leaves, seq - 1, checkpoint.size).map((h) => h.toString('hex')),
          },
        };
      }),
    };
    writeFileSync(path, `${JSON.stringify(proof, null, 2)}\n`);
    return { proof, problems: [], report };
  } finally {
    await api.close();
  }
}

/** `domicile audit proof`: an entry's inclusion proof against its region's newest signed checkpoint, checked before it is printed. */
export async function runAuditProof(
  access: OperatorAccess,
  region: string,
  seq: number,
  json: boolean,
  witnessPath?: string,
): Promise<number> {
  const witnesses = loadWitnesses(witnessPath ?? witnessFile(access.data));
  const api = await openOperatorApi({ ...access, readOnly: true });
  try {
    if (!(await api.auditRegions()).includes(region)) {
      throw new DomicileError(
        'BAD_REQUEST',
        `no running region "${region}": use one of ${(await api.auditRegions()).join(', ')}`,
      );
    }
    const log = await verifyLog(region, (afterSeq, limit) => api.auditPage(region, afterSeq, limit), witnesses[region]);
    if (log.problems.length > 0) {
      process.stderr.write(
        `region ${region}'s audit log does not verify, so no proof from it means anything:\n${log.problems.map((p) => `  - ${p}`).join('\n')}\n`,
      );
      return 1;
    }
    const checkpoint = log.latest;
    if (!checkpoint || seq < 1 || seq > checkpoint.size) {
      throw new DomicileError(
        'BAD_REQUEST',
        `region ${region}'s log has ${checkpoint?.size ?? 0} signed entries: --seq is a number from 1 to ${checkpoint?.size ?? 0}`,
      );
    }
    const leaf = log.leaves[seq - 1]!;
    const path = inclusionProof(log.leaves, seq - 1, checkpoint.size);
    const verified = verifyInclusion(leaf, seq - 1, checkpoint.size, path, Buffer.from(checkpoint.root, 'hex'));
    const out = {
      region,
      seq,
      leafIndex: seq - 1,
      entry: JSON.parse(log.entries[seq - 1]!) as unknown,
      leafHash: leaf.toString('hex'),
      treeSize: checkpoint.size,
      root: checkpoint.root,
      checkpoint,
      publicKey: log.publicKey,
      proof: path.map((h) => h.toString('hex')),
      verified,
    };
    if (json) process.stdout.write(`${JSON.stringify(out)}\n`);
    else {
      process.stdout.write(
        `Entry ${seq} of region ${region}'s audit log, in the tree of ${checkpoint.size} entries signed at ${new Date(checkpoint.at).toISOString()}\n` +
          `entry      ${log.entries[seq - 1]}\nleaf hash  ${out.leafHash}\nroot       ${checkpoint.root}\nproof      ${out.proof.length === 0 ? '(none: the tree is this one leaf)' : out.proof.join('\n           ')}\n` +
          `verified   ${verified ? 'yes (RFC 9162 inclusion, against the signed root)' : 'NO'}\n`,
      );
    }
    return verified ? 0 : 1;
  } finally {
    await api.close();
  }
}
