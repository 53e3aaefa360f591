import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLog } from '../../src/audit/verify-log.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { Platform } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { regionPaths } from '../../src/region/open-region-node.js';
import type { AuditPage } from '../../src/region/region-client.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { auth, examplesDir, grant, liftedAuthThrottle, register } from '../support/test-platform.js';

/**
 * A data folder whose in-mumbai log holds a policy entry, consent decisions, a key shred and
 * a data subject request, verified once (which pins it); then each test tampers with a copy of
 * the region's file the way someone with access to it could, and `domicile audit verify` must
 * exit 1 and say what it found.
 */
describe('tampering with an audit log', () => {
  const root = tempDir('audit-tamper');
  const seed = join(root.path, 'seed');
  let copies = 0;

  beforeAll(async () => {
    const policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
    const platform = await Platform.open({ policy, dataDir: seed, durability: 'normal' });
    const app = await buildGateway(platform, { throttle: liftedAuthThrottle });
    try {
      for (let i = 0; i < 3; i++) {
        const user = await register(app, {
          email: `tamper${i}@example.com`,
          password: 'tamper-password',
          market: 'IN',
        });
        await grant(app, user.token, 'cloud-backup');
        await app.inject({
          method: 'PUT',
          url: '/v1/me/cloud/contacts/c1',
          headers: auth(user.token),
          payload: { name: `contact ${i}` },
        });
        if (i === 1)
          await app.inject({
            method: 'PUT',
            url: '/v1/me/consents/cloud-backup',
            headers: auth(user.token),
            payload: { decision: 'withdraw' },
          });
        if (i === 2)
          expect((await app.inject({ method: 'DELETE', url: '/v1/me', headers: auth(user.token) })).statusCode).toBe(
            202,
          );
      }
    } finally {
      await app.close();
      await platform.close();
    }
    const first = await runCli(['audit', 'verify', '--data', seed, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const mumbai = (
      JSON.parse(first.stdout) as { regions: Array<{ region: string; entries: number; verified: boolean }> }
    ).regions.find((r) => r.region === 'in-mumbai')!;
    expect(mumbai.verified).toBe(true);
    expect(mumbai.entries).toBeGreaterThanOrEqual(8);
  }, 60_000);
  afterAll(() => root.remove());

  /** A copy of the seed with in-mumbai's store changed by `tamper`, then verified by the real CLI. */
  async function tamperAndVerify(
    tamper: (db: Database.Database) => void,
  ): Promise<{ code: number | null; problems: string[] }> {
    const copy = join(root.path, `copy-${copies++}`);
    cpSync(seed, copy, { recursive: true });
    const db = new Database(regionPaths(copy, 'in-mumbai').store);
    try {
      tamper(db);
    } finally {
      db.close();
    }
    const result = await runCli(['audit', 'verify', '--data', copy, '--json']);
    const regions = (JSON.parse(result.stdout) as { regions: Array<{ region: string; problems: string[] }> }).regions;
    expect(regions.filter((r) => r.region !== 'in-mumbai').every((r) => r.problems.length === 0)).toBe(true);
    return { code: result.code, problems: regions.find((r) => r.region === 'in-mumbai')!.problems };
  }

  const entry = (db: Database.Database, seq: number) =>
    db
      .prepare<[number], { entry: Buffer; leaf_hash: Buffer }>(
        'SELECT entry, leaf_hash FROM audit_entries WHERE seq = ?',
      )
      .get(seq)!;

  it('a changed byte of an entry (a decision put on another user)', async () => {
    const { code, problems } = await tamperAndVerify((db) => {
      const bytes = Buffer.from(entry(db, 3).entry);
      const at = bytes.indexOf('"user":"u_') + '"user":"u_'.length;
      expect(at).toBeGreaterThan(10);
      bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
      db.prepare('UPDATE audit_entries SET entry = ? WHERE seq = 3').run(bytes);
    });
    expect(code).toBe(1);
    expect(problems.join('\n')).toMatch(/entry 3/);
  });

  it('a changed entry with its leaf hash recomputed to match', async () => {
    const { code, problems } = await tamperAndVerify((db) => {
      const text = entry(db, 3).entry.toString('utf8').replace('"decision":"grant"', '"decision":"deny"');
      expect(text).toContain('"decision":"deny"');
      const leaf = createHash('sha256')
        .update(Buffer.from([0]))
        .update(text)
        .digest();
      db.prepare('UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE seq = 3').run(Buffer.from(text), leaf);
    });
    expect(code).toBe(1);
    expect(problems.join('\n')).toMatch(/do not hash to the root signed/);
  });

  it('a removed entry in the middle', async () => {
    const { code, problems } = await tamperAndVerify((db) =>
      db.prepare('DELETE FROM audit_entries WHERE seq = 2').run(),
    );
    expect(code).toBe(1);
    expect(problems.join('\n')).toMatch(/entry 2 is missing/);
  });

  it('two entries swapped', async () => {
    const { code, problems } = await tamperAndVerify((db) => {
      const a = entry(db, 2);
      const b = entry(db, 3);
      db.prepare('UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE seq = 2').run(b.entry, b.leaf_hash);
      db.prepare('UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE seq = 3').run(a.entry, a.leaf_hash);
    });
    expect(code).toBe(1);
    expect(problems.join('\n')).toMatch(/entries were moved or reordered/);
  });

  it('the newest entries cut off with their checkpoints (the log made shorter)', async () => {
    const { code, problems } = await tamperAndVerify((db) => {
      const last = db.prepare('SELECT max(seq) FROM audit_entries').pluck().get() as number;
      db.prepare('DELETE FROM audit_entries WHERE seq >= ?').run(last - 1);
      db.prepare('DELETE FROM audit_checkpoints WHERE size >= ?').run(last - 1);
    });
    expect(code).toBe(1);
    expect(problems.join('\n')).toMatch(/fewer than the \d+ seen at the last verification/);
  });

  it('an entry added without a signature', async () => {
    const { code, problems } = await tamperAndVerify((db) => {
      const last = db.prepare('SELECT max(seq) FROM audit_entries').pluck().get() as number;
      const copy = entry(db, last);
      db.prepare('INSERT INTO audit_entries (seq, event_id, type, entry, leaf_hash) VALUES (?, NULL, ?, ?, ?)').run(
        last + 1,
        'policy',
        copy.entry,
        copy.leaf_hash,
      );
    });
    expect(code).toBe(1);
    expect(problems.join('\n')).toMatch(/follow the last signed checkpoint|says it is entry/);
  });

  it('a changed checkpoint: its signature, or its root', async () => {
    const signature = await tamperAndVerify((db) => {
      const c = db
        .prepare<[], { size: number; signature: Buffer }>(
          'SELECT size, signature FROM audit_checkpoints ORDER BY size LIMIT 1',
        )
        .get()!;
      c.signature[10] = c.signature[10]! ^ 0x01;
      db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE size = ?').run(c.signature, c.size);
    });
    expect(signature.code).toBe(1);
    expect(signature.problems.join('\n')).toMatch(/does not carry region in-mumbai's signature/);
    const root = await tamperAndVerify((db) => {
      db.prepare(
        'UPDATE audit_checkpoints SET root = zeroblob(32) WHERE size = (SELECT max(size) FROM audit_checkpoints)',
      ).run();
    });
    expect(root.code).toBe(1);
  });

  it('the whole log rewritten and signed again with a new key', async () => {
    const copy = join(root.path, `copy-${copies++}`);
    cpSync(seed, copy, { recursive: true });
    // Someone with the files replaces the signing key; the region then signs happily, but not as the key pinned.
    const keyFile = regionPaths(copy, 'in-mumbai').auditKey;
    const other = join(root.path, `other-${copies}`);
    const policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
    const platform = await Platform.open({ policy, dataDir: other, durability: 'normal' });
    await platform.close();
    const foreign = JSON.parse(readFileSync(regionPaths(other, 'in-mumbai').auditKey, 'utf8')) as Record<
      string,
      string
    >;
    writeFileSync(keyFile, JSON.stringify(foreign), { mode: 0o600 });
    const result = await runCli(['audit', 'verify', '--data', copy, '--json']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/another signing key than the one pinned/);
  }, 30_000);

  it('a residency proof verifies offline, and a changed proof does not', async () => {
    const copy = join(root.path, `copy-${copies++}`);
    cpSync(seed, copy, { recursive: true });
    const proofFile = join(root.path, 'proof.json');
    const written = await runCli(['report', 'residency', '--data', copy, '--proof', proofFile]);
    expect(written.code, written.stdout + written.stderr).toBe(0);
    expect(written.stdout).toMatch(/Proof written to .*: 5 signed region checkpoints/);
    const ok = await runCli(['audit', 'verify', '--proof', proofFile, '--data', copy, '--json']);
    expect(ok.code, ok.stdout).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, violations: 0 });

    const proof = JSON.parse(readFileSync(proofFile, 'utf8')) as {
      regions: Array<{ region: string; checkpoint: { root: string; size: number } }>;
      report: { rows: Array<{ allowed: boolean }>; violations: unknown[] };
    };
    const changes: Array<[string, (p: typeof proof) => void]> = [
      [
        'a row of the report removed, as if its data were not there',
        (p) => {
          p.report.rows.splice(0, 1);
        },
      ],
      [
        "every region's signature left out",
        (p) => {
          p.regions.splice(0);
        },
      ],
      [
        'one region left out',
        (p) => {
          p.regions.splice(0, 1);
        },
      ],
      [
        'a checkpoint root',
        (p) => {
          p.regions[4]!.checkpoint.root = '0'.repeat(64);
        },
      ],
      [
        'a checkpoint size',
        (p) => {
          p.regions[4]!.checkpoint.size += 1;
        },
      ],
      [
        'a row made outside the policy without a violation',
        (p) => {
          p.report.rows[0]!.allowed = false;
        },
      ],
    ];
    for (const [what, change] of changes) {
      const bad = structuredClone(proof);
      change(bad);
      writeFileSync(proofFile, JSON.stringify(bad));
      const result = await runCli(['audit', 'verify', '--proof', proofFile, '--data', copy]);
      expect(result.code, what).toBe(1);
      expect(result.stdout, what).toMatch(/NOT valid/);
    }
    writeFileSync(proofFile, '{"not": "a proof"}');
    const garbage = await runCli(['audit', 'verify', '--proof', proofFile, '--data', copy]);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toMatch(/is not a residency proof/);
  }, 30_000);

  it('a changed entry whose checkpoints were removed is neither signed over by a restarted region nor passed by the verifier', async () => {
    const copy = join(root.path, `copy-${copies++}`);
    cpSync(seed, copy, { recursive: true });
    const db = new Database(regionPaths(copy, 'in-mumbai').store);
    try {
      const text = entry(db, 3)
        .entry.toString('utf8')
        .replace(/"user":"u_./, (m) => `${m.slice(0, -1)}${m.endsWith('A') ? 'B' : 'A'}`);
      const leaf = createHash('sha256')
        .update(Buffer.from([0]))
        .update(text)
        .digest();
      db.prepare('UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE seq = 3').run(Buffer.from(text), leaf);
      db.prepare('DELETE FROM audit_checkpoints WHERE size >= 3').run();
    } finally {
      db.close();
    }
    // The region restarts over it and is asked to record something: it refuses rather than sign.
    const policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
    const platform = await Platform.open({ policy, dataDir: copy, durability: 'normal' });
    const app = await buildGateway(platform, { throttle: liftedAuthThrottle });
    try {
      const user = await register(app, {
        email: 'after-tamper@example.com',
        password: 'tamper-password',
        market: 'IN',
      });
      const refused = await app.inject({
        method: 'PUT',
        url: '/v1/me/consents/cloud-backup',
        headers: auth(user.token),
        payload: { decision: 'grant', noticeVersion: '2014-08' },
      });
      expect(refused.statusCode).toBe(500);
      expect(refused.json().error).toMatchObject({ code: 'INTEGRITY' });
      expect(refused.json().error.message).toMatch(/audit log does not verify/);
    } finally {
      await app.close();
      await platform.close();
    }
    const result = await runCli(['audit', 'verify', '--data', copy, '--json']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/is missing: it was removed|entries 1 to \d+ differ/);
  }, 30_000);

  it('any single flipped bit of any entry or checkpoint is caught', async () => {
    // The same verifier on raw pages of the file, so that many flips can be tried quickly.
    const file = new Database(regionPaths(seed, 'in-mumbai').store, { readonly: true });
    const entries = file
      .prepare<[], { seq: number; entry: Buffer; leaf_hash: Buffer }>(
        'SELECT seq, entry, leaf_hash FROM audit_entries ORDER BY seq',
      )
      .all();
    const checkpoints = file
      .prepare<[], { size: number; root: Buffer; at: number; signature: Buffer }>(
        'SELECT size, root, at, signature FROM audit_checkpoints ORDER BY size',
      )
      .all();
    file.close();
    const publicKey = (
      JSON.parse(readFileSync(regionPaths(seed, 'in-mumbai').auditKey, 'utf8')) as { publicKey: string }
    ).publicKey;
    const pages =
      (rows: typeof entries, cps: typeof checkpoints) =>
      async (afterSeq: number): Promise<AuditPage> => ({
        region: 'in-mumbai',
        publicKey,
        size: rows.length,
        entries:
          afterSeq === 0
            ? rows.map((r) => ({ seq: r.seq, entry: r.entry.toString('utf8'), leafHash: r.leaf_hash.toString('hex') }))
            : [],
        checkpoints:
          afterSeq === 0
            ? cps.map((c) => ({
                region: 'in-mumbai',
                size: c.size,
                root: c.root.toString('hex'),
                at: c.at,
                signature: c.signature.toString('base64'),
              }))
            : [],
      });
    expect((await verifyLog('in-mumbai', pages(entries, checkpoints))).problems).toEqual([]);
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), fc.nat(), fc.nat(7), async (inEntry, which, at, bit) => {
        const rows = entries.map((r) => ({ ...r, entry: Buffer.from(r.entry) }));
        const cps = checkpoints.map((c) => ({ ...c, root: Buffer.from(c.root), signature: Buffer.from(c.signature) }));
        if (inEntry) {
          const row = rows[which % rows.length]!;
          row.entry[at % row.entry.length]! ^= 1 << bit;
        } else {
          const c = cps[which % cps.length]!;
          const target = at % 2 === 0 ? c.root : c.signature;
          target[(at >> 1) % target.length]! ^= 1 << bit;
        }
        const { problems } = await verifyLog('in-mumbai', pages(rows, cps));
        expect(problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });
});
