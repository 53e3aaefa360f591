import type { WhereReport } from '../platform/where-user.js';
import { formatTable } from '../shared/format-table.js';
import { type OperatorAccess, openOperatorApi } from './operator-api.js';

export function formatWhere(report: WhereReport): string {
  const homes = report.homes.map((h) => `  ${h.service.padEnd(10)} → ${h.region} (epoch ${h.epoch})`).join('\n');
  const rows = report.holdings.flatMap((h) =>
    h.services.flatMap((s) =>
      s.collections.length === 0
        ? [[h.region, s.service, s.status, '-', 0, 0, s.keys, s.changes]]
        : s.collections.map((c) => [
            h.region,
            s.service,
            s.status,
            c.collection,
            c.records,
            c.bytes,
            s.keys,
            s.changes,
          ]),
    ),
  );
  const residue =
    report.residue.length === 0
      ? 'No residue: no region holds anything of the user but where they live.'
      : `Residue (rows naming the user where they do not live):\n${report.residue.map((r) => `  - ${r.region} ${r.service}: ${r.reason}`).join('\n')}`;
  return `User ${report.userId} (market ${report.market})\nHomes:\n${homes}\n\n${formatTable(['region', 'service', 'status', 'collection', 'records', 'bytes', 'keys', 'changes'], rows)}\n${residue}\n`;
}

/** `domicile where USER`: which regions hold what of a user. */
export async function runWhere(access: OperatorAccess, userId: string, json: boolean): Promise<number> {
  const api = await openOperatorApi({ ...access, readOnly: true });
  try {
    const report = await api.where(userId);
    process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatWhere(report));
    return 0;
  } finally {
    await api.close();
  }
}
