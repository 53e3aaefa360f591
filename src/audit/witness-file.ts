import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { DomicileError } from '../errors/domicile-error.js';
import type { Witness } from './verify-log.js';

const witnessFileSchema = z.record(
  z.string(),
  z.object({
    region: z.string(),
    publicKey: z.string(),
    checkpoint: z.object({
      region: z.string(),
      size: z.number().int().nonnegative(),
      root: z.string(),
      at: z.number(),
      signature: z.string(),
    }),
  }),
);

/**
 * Where `domicile audit verify` keeps, per region, the key it pinned and the last checkpoint it
 * accepted (`<data>/audit/witness.json`): outside every region's store, so a log rewritten or
 * cut short since is caught even if its own checkpoints were rewritten with it. An auditor may
 * keep a copy elsewhere and point --witness at it.
 */
export function witnessFile(dataDir: string): string {
  return join(dataDir, 'audit', 'witness.json');
}

export function loadWitnesses(file: string): Record<string, Witness> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new DomicileError('UNAVAILABLE', `cannot read the audit witness ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return witnessFileSchema.parse(JSON.parse(text));
  } catch (err) {
    throw new DomicileError(
      'BAD_REQUEST',
      `the audit witness ${file} is not one this tool wrote: restore it from your copy, or remove it to start pinning afresh (the logs are then verified without their history)`,
      { cause: err },
    );
  }
}

export function saveWitnesses(file: string, witnesses: Record<string, Witness>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(witnesses, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}
