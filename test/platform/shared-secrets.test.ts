import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSchema, postgresSchemas } from '../../bench/postgres-regions.js';
import { Platform } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import type { Policy } from '../../src/policy/policy-schema.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

/**
 * Gateways that share a directory must share its secrets: a gateway that signs tokens with a key
 * of its own rejects the others' users, and one with a blind index key of its own registers the
 * same e-mail again as a new user. The first gateway records a fingerprint of each (never the
 * secret); a later one whose secrets differ refuses to start, naming the secret and the fix.
 */
describe('gateways on a shared directory with different secrets', () => {
  const root = tempDir('shared-secrets');
  const dirA = join(root.path, 'a');
  let drop: (() => Promise<void>) | undefined;
  let policy: Policy;
  let directoryUrl: string;

  async function openAndClose(dataDir: string): Promise<void> {
    const p = await Platform.open({ policy, dataDir, durability: 'normal', directoryUrl });
    await p.close();
  }

  beforeAll(async () => {
    const made = await postgresSchemas(testPostgresUrl, ['directory']);
    drop = made.drop;
    directoryUrl = inSchema(testPostgresUrl, made.schemas.directory!);
    policy = await loadPolicyFile(join(examplesDir, 'phase1.yaml'));
    await openAndClose(dirA);
  }, 60_000);
  afterAll(async () => {
    await drop?.();
    root.remove();
  });

  it('refuses a second gateway with secrets of its own, naming each that differs and where to copy it from', async () => {
    const dirB = join(root.path, 'b');
    const opening = Platform.open({ policy, dataDir: dirB, durability: 'normal', directoryUrl });
    const started = await opening.catch(() => undefined);
    await started?.close();
    await expect(opening).rejects.toThrow(/token signing key \(secrets\/jwt\.key\)/);
    await expect(opening).rejects.toThrow(/blind index key \(secrets\/index\.key\)/);
    await expect(opening).rejects.toThrow(/contact discovery key \(secrets\/discovery\.key\)/);
    await expect(opening).rejects.toThrow(new RegExp(`copy .*${dirA.replaceAll('/', '\\/')}.*secrets`));
    await expect(opening).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('names only the secret that differs, and starts once it is copied', async () => {
    const dirC = join(root.path, 'c');
    mkdirSync(dirC, { recursive: true });
    cpSync(join(dirA, 'secrets'), join(dirC, 'secrets'), { recursive: true });
    writeFileSync(join(dirC, 'secrets', 'index.key'), 'another-index-key\n', { mode: 0o600 });
    const refused = await Platform.open({ policy, dataDir: dirC, durability: 'normal', directoryUrl }).then(
      async (p) => {
        await p.close();
        return undefined;
      },
      (err: Error) => err,
    );
    expect(refused?.message).toMatch(/blind index key/);
    expect(refused?.message).not.toMatch(/token signing key|contact discovery key/);
    cpSync(join(dirA, 'secrets', 'index.key'), join(dirC, 'secrets', 'index.key'));
    await openAndClose(dirC);
  });

  it('of two gateways with different secrets starting at once on a new directory, starts one and refuses the other', async () => {
    const fresh = await postgresSchemas(testPostgresUrl, ['directory']);
    try {
      const url = inSchema(testPostgresUrl, fresh.schemas.directory!);
      const opened = await Promise.allSettled(
        ['d', 'e'].map((d) =>
          Platform.open({ policy, dataDir: join(root.path, d), durability: 'normal', directoryUrl: url }),
        ),
      );
      for (const o of opened) if (o.status === 'fulfilled') await o.value.close();
      expect(opened.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = opened.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      // Every secret is the first one's, none the other's: the refused one names all three.
      expect((refused.reason as Error).message).toMatch(/token signing key .*blind index key .*contact discovery key/);
    } finally {
      await fresh.drop();
    }
  });

  it('keeps fingerprints, never the secrets, in the shared database', async () => {
    const client = new pg.Client({ connectionString: directoryUrl });
    await client.connect();
    try {
      const dump = JSON.stringify((await client.query('SELECT * FROM gateway_secrets')).rows);
      expect(dump).toMatch(/jwt/);
      for (const file of ['jwt.key', 'index.key', 'discovery.key']) {
        const secret = readFileSync(join(dirA, 'secrets', file), 'utf8').trim();
        expect(dump).not.toContain(secret);
      }
    } finally {
      await client.end();
    }
  });
});
