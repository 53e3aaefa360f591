import { expect } from 'vitest';
import { DomicileError, type ErrorCode } from '../../src/errors/domicile-error.js';

export { filesHoldingBytes, listFiles as filesUnder } from '../support/file-scan.js';

export { tempDir } from '../support/temp-dir.js';
export { fastScrypt, testPolicy } from './test-policy.js';

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
