import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { DomicileError, type ErrorCode } from '../../src/errors/domicile-error.js';

export { fastScrypt, testPolicy } from './test-policy.js';

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `domicile-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Awaits a failure and checks it is a DomicileError with this code. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<DomicileError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DomicileError);
    expect((err as DomicileError).code, (err as Error).message).toBe(code);
    return err as DomicileError;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

/** Every file under a folder, recursively. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The files under a folder that hold these bytes anywhere. */
export function filesHoldingBytes(dir: string, needle: Buffer): string[] {
  return filesUnder(dir).filter((file) => readFileSync(file).includes(needle));
}
