import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DsarRequest } from '../dsar/dsar-requests.js';
import { DomicileError } from '../errors/domicile-error.js';
import { type OperatorAccess, openOperatorApi } from './operator-api.js';

function formatRequest(r: DsarRequest): string {
  return `request ${r.id}: ${r.kind} of user ${r.userId}, ${r.state}${r.error ? ` (${r.error})` : ''}; regions done: ${r.regionsDone.join(', ') || 'none yet'}\n`;
}

/** `domicile dsar export USER [--out FILE]`: the user's data from every region, decrypted, as one JSON bundle. */
export async function runDsarExport(access: OperatorAccess, userId: string, out: string | undefined): Promise<number> {
  // Checked before the export runs (and is audited): a bundle with nowhere to go is not made.
  if (out !== undefined && !existsSync(dirname(resolve(out)))) {
    throw new DomicileError(
      'BAD_REQUEST',
      `--out ${out}: the folder ${dirname(resolve(out))} does not exist; create it or name another file`,
    );
  }
  const api = await openOperatorApi(access);
  try {
    const bundle = await api.dsarExport(userId);
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (out === undefined) process.stdout.write(text);
    else {
      writeFileSync(out, text, { mode: 0o600 });
      const records = bundle.regions.reduce((n, r) => n + r.services.reduce((m, s) => m + s.records.length, 0), 0);
      process.stderr.write(
        `wrote ${out}: ${records} records from ${bundle.regions.map((r) => r.region).join(', ') || 'no region'} (request ${bundle.request})\n`,
      );
    }
    return 0;
  } finally {
    await api.close();
  }
}

/** `domicile dsar erase USER`: shreds the user's keys and deletes their data in every region, then the account. */
export async function runDsarErase(access: OperatorAccess, userId: string, json: boolean): Promise<number> {
  const api = await openOperatorApi(access);
  try {
    const request = await api.dsarErase(userId);
    process.stdout.write(json ? `${JSON.stringify(request)}\n` : formatRequest(request));
    return request.state === 'completed' ? 0 : 1;
  } finally {
    await api.close();
  }
}

/** `domicile dsar status ID`. */
export async function runDsarStatus(access: OperatorAccess, id: string, json: boolean): Promise<number> {
  const api = await openOperatorApi(access);
  try {
    const request = await api.dsarStatus(id);
    process.stdout.write(json ? `${JSON.stringify(request)}\n` : formatRequest(request));
    return 0;
  } finally {
    await api.close();
  }
}
