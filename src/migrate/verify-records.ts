import type { ExportedRecord, RegionClient } from '../region/region-client.js';
import type { RecordMismatch } from './migration-types.js';
import { refKey, type VerifiedRow } from './verified-rows.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';

export interface RecordCheck {
  mismatches: RecordMismatch[];
  /** Per user, per record checked: what both sides hold (null: deleted on both). */
  rows: Map<string, Map<string, VerifiedRow | null>>;
}

function described(r: ExportedRecord | undefined): { version: number; hash: string } | null {
  return r ? { version: r.version, hash: r.hash } : null;
}

/**
 * Verifies named records only, on both sides: their current states (value and version, or
 * deleted) must be equal. Under the fence this replaces digesting whole users again: the
 * records that changed since the live verification are the only ones that can differ.
 */
export async function verifyRecords(
  from: RegionClient,
  to: RegionClient,
  service: string,
  refsByUser: ReadonlyMap<string, ReadonlyMap<string, { collection: string; key: string }>>,
  digestKey: string,
): Promise<RecordCheck> {
  const result: RecordCheck = { mismatches: [], rows: new Map() };
  for (const [userId, refs] of refsByUser) {
    const list = [...refs.values()];
    const [a, b] = [
      await from.readRecordStates({ service, userId, refs: list, digestKey }),
      await to.readRecordStates({ service, userId, refs: list, digestKey }),
    ];
    const left = new Map(a.records.map((r) => [refKey(r.collection, r.key), r]));
    const right = new Map(b.records.map((r) => [refKey(r.collection, r.key), r]));
    const rows = new Map<string, VerifiedRow | null>();
    for (const [id, ref] of refs) {
      const s = described(left.get(id));
      const d = described(right.get(id));
      if (s === null && d === null) {
        rows.set(id, null);
      } else if (s && d && s.version === d.version && s.hash === d.hash) {
        rows.set(id, { ...ref, ...d });
      } else {
        const problem = !d
          ? 'missing in the destination'
          : !s
            ? 'in the destination only (deleted in the source)'
            : s.version !== d.version
              ? `version ${s.version} in the source, ${d.version} in the destination`
              : `content differs at version ${s.version}`;
        result.mismatches.push({ userId, ...ref, source: s, destination: d, problem });
      }
    }
    result.rows.set(userId, rows);
    await yieldToEventLoop();
  }
  return result;
}
