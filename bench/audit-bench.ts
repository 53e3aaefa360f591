import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AuditEvent } from '../src/audit/audit-event.js';
import { consistencyProof, inclusionProof, treeHash, verifyConsistency, verifyInclusion } from '../src/audit/merkle.js';
import { verifyLog } from '../src/audit/verify-log.js';
import { loadPolicyFile } from '../src/policy/load-policy.js';
import { openRegionNode } from '../src/region/open-region-node.js';
import { packageRoot } from '../src/shared/packaged-file.js';
import type { Figure } from './bench-output.js';
import { type Machine, machine } from './bench-output.js';
import { tempFolder } from './temp-folder.js';

export interface AuditBenchOptions {
  /** Entries appended one per call (each its own transaction and signed checkpoint). */
  single: number;
  /** Entries appended in calls of `batch` (one transaction and checkpoint per call). */
  batched: number;
  batch: number;
  durability: 'full' | 'normal';
  log: (line: string) => void;
}

export interface AuditBenchReport {
  machine: Machine;
  options: Omit<AuditBenchOptions, 'log'>;
  entryBytes: number;
  rates: { sha256: number; single: number; batched: number; inclusion: number; consistency: number; verifyLog: number };
  figures: Figure[];
}

/** A migrated batch's transfer as the log holds one (four users): about 600 bytes. */
function event(i: number): AuditEvent {
  return {
    type: 'transfer',
    migration: 'm_bench',
    batch: i,
    service: 'shop',
    from: 'cn-beijing',
    to: 'in-mumbai',
    role: 'destination',
    stage: 'completed',
    users: Array.from({ length: 4 }, (_, u) => `u_bench${String(i * 4 + u).padStart(10, '0')}`),
    records: 400,
    bytes: 409_600,
    digest: createHash('sha256').update(String(i)).digest('hex'),
    policy: { name: 'phase3', version: 4 },
  };
}

function rate(n: number, run: () => void): number {
  const started = performance.now();
  run();
  return n / ((performance.now() - started) / 1000);
}

/**
 * `domicile bench audit`: a real region node's audit log. Appends per second one entry per
 * call (each a SQLite transaction with its RFC 6962 leaf and an Ed25519-signed checkpoint) and
 * in batches; inclusion and consistency proofs verified per second; a whole log verified from
 * its raw entries per second; beside SHA-256 of the same entries' bytes, one hash each, in the
 * same run: the least any Merkle log must do per entry.
 */
export async function auditBench(options: AuditBenchOptions): Promise<AuditBenchReport> {
  const { log } = options;
  const folder = tempFolder('bench-audit');
  try {
    const policy = await loadPolicyFile(join(packageRoot, 'examples', 'phase3.yaml'));
    const node = await openRegionNode({
      policy,
      regionId: 'in-mumbai',
      dataDir: folder.path,
      durability: options.durability,
    });
    try {
      log(`appending ${options.single} entries one per call…`);
      let started = performance.now();
      for (let i = 0; i < options.single; i++) await node.recordEvents({ events: [{ id: null, event: event(i) }] });
      const single = options.single / ((performance.now() - started) / 1000);

      log(`appending ${options.batched} entries in calls of ${options.batch}…`);
      started = performance.now();
      for (let i = 0; i < options.batched; i += options.batch) {
        const events = Array.from({ length: Math.min(options.batch, options.batched - i) }, (_, j) => ({
          id: null,
          event: event(options.single + i + j),
        }));
        await node.recordEvents({ events });
      }
      const batched = options.batched / ((performance.now() - started) / 1000);

      log('verifying the whole log from its raw entries…');
      started = performance.now();
      const verified = await verifyLog('in-mumbai', (afterSeq, limit) => node.readAudit({ afterSeq, limit }));
      const verifyRate = verified.size / ((performance.now() - started) / 1000);
      if (verified.problems.length > 0)
        throw new Error(`the benchmark's own log does not verify: ${verified.problems.join('; ')}`);

      const entries = verified.entries.map((e) => Buffer.from(e, 'utf8'));
      const entryBytes = Math.round(entries.reduce((n, e) => n + e.length, 0) / entries.length);
      log('SHA-256 of the same entries, one hash each…');
      const sha256 = rate(entries.length, () => {
        for (const e of entries) createHash('sha256').update(e).digest();
      });

      const { leaves } = verified;
      const size = leaves.length;
      const root = treeHash(leaves);
      const picks = Array.from({ length: 5_000 }, (_, i) => (i * 7919) % size);
      const proofs = picks.map((index) => ({ index, path: inclusionProof(leaves, index, size) }));
      log(`verifying ${proofs.length} inclusion proofs in a tree of ${size}…`);
      const inclusion = rate(proofs.length, () => {
        for (const p of proofs)
          if (!verifyInclusion(leaves[p.index]!, p.index, size, p.path, root))
            throw new Error(`inclusion proof ${p.index} failed`);
      });
      const firsts = Array.from({ length: 1_000 }, (_, i) => 1 + ((i * 104_729) % size));
      const consistency = firsts.map((first) => ({
        first,
        firstRoot: treeHash(leaves, 0, first),
        path: consistencyProof(leaves, first, size),
      }));
      log(`verifying ${consistency.length} consistency proofs…`);
      const consistencyRate = rate(consistency.length, () => {
        for (const c of consistency)
          if (!verifyConsistency(c.first, c.firstRoot, size, root, c.path))
            throw new Error(`consistency proof from ${c.first} failed`);
      });

      const rates = { sha256, single, batched, inclusion, consistency: consistencyRate, verifyLog: verifyRate };
      return {
        machine: machine(),
        options: {
          single: options.single,
          batched: options.batched,
          batch: options.batch,
          durability: options.durability,
        },
        entryBytes,
        rates,
        figures: [
          { name: 'SHA-256 of the entries (one hash each)', value: sha256, unit: 'entries/s' },
          {
            name: `audit appends, 1 per call (${options.durability})`,
            value: single,
            unit: 'entries/s',
            baseline: { name: 'SHA-256', value: sha256 },
          },
          {
            name: `audit appends, ${options.batch} per call (${options.durability})`,
            value: batched,
            unit: 'entries/s',
            baseline: { name: 'SHA-256', value: sha256 },
          },
          {
            name: 'whole-log verification',
            value: verifyRate,
            unit: 'entries/s',
            baseline: { name: 'SHA-256', value: sha256 },
          },
          {
            name: `inclusion proofs verified (tree of ${size})`,
            value: inclusion,
            unit: 'proofs/s',
            baseline: { name: 'SHA-256', value: sha256 },
          },
          {
            name: 'consistency proofs verified',
            value: consistencyRate,
            unit: 'proofs/s',
            baseline: { name: 'SHA-256', value: sha256 },
          },
        ],
      };
    } finally {
      await node.close();
    }
  } finally {
    folder.remove();
  }
}
