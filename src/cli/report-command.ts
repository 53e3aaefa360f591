import type { ResidencyProof } from '../audit/residency-proof.js';
import { formatTable } from '../shared/format-table.js';
import { writeResidencyProof } from './audit-command.js';
import { type OperatorAccess, openOperatorApi } from './operator-api.js';

/** A report as the platform makes it, or as a proof file holds it (older ones have no residue column). */
export function formatResidency(report: ResidencyProof['report']): string {
  const table = formatTable(
    ['market', 'service', 'region', 'users', 'records', 'bytes', 'residue', 'homed', 'allowed'],
    report.rows.map((r) => [
      r.market === '' ? '?' : r.market,
      r.service,
      r.region,
      r.users,
      r.records,
      r.bytes,
      r.residue ?? 0,
      r.homed,
      r.allowed ? 'yes' : 'NO',
    ]),
  );
  const verdict =
    report.violations.length === 0
      ? 'No violations: every record rests in a region the policy allows.'
      : `${report.violations.length} violation(s):\n${report.violations.map((v) => `  - ${v.message}`).join('\n')}`;
  const moving = report.inMove ?? [];
  const inMove =
    moving.length === 0
      ? ''
      : `\nIn move (not violations): ${moving.reduce((n, m) => n + m.users, 0)} users\n${moving.map((m) => `  - ${m.message}`).join('\n')}\n`;
  return `Residency under policy "${report.policy.name}" (version ${report.policy.version}), ${report.generatedAt}\n\n${report.rows.length > 0 ? table : '(no data yet)'}\n\n${verdict}\n${inMove}`;
}

/**
 * `domicile report residency`: exit code 1 on any violation. With --proof FILE, also writes a
 * residency proof (the report and every region's verified, signed audit checkpoint), and exits
 * 1 on tampering too.
 */
export async function runReportResidency(access: OperatorAccess, json: boolean, proofFile?: string): Promise<number> {
  if (proofFile !== undefined) {
    const { proof, problems, report } = await writeResidencyProof(access, proofFile);
    const written = proof
      ? `Proof written to ${proofFile}: ${proof.regions.length} signed region checkpoints.`
      : `No proof written: audit logs that do not verify:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
    process.stdout.write(
      json
        ? `${JSON.stringify({ ...report, proof: proof ? proofFile : null, auditProblems: problems })}\n`
        : `${formatResidency(report)}\n${written}\n`,
    );
    return report.violations.length === 0 && problems.length === 0 ? 0 : 1;
  }
  const api = await openOperatorApi({ ...access, readOnly: true });
  try {
    const report = await api.residency();
    process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatResidency(report));
    return report.violations.length === 0 ? 0 : 1;
  } finally {
    await api.close();
  }
}
