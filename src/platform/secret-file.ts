import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * Reads a secret kept in a file of its own (mode 0600), creating it with `bytes` random
 * bytes on first use. Secrets are stored base64url so that operators can paste them.
 */
export function loadOrCreateSecret(file: string, bytes = 32): string {
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (text.length === 0) {
      throw new DomicileError(
        'BAD_REQUEST',
        `the secret file ${file} is empty: delete it to have a new one made, or restore it from backup`,
      );
    }
    const mode = statSync(file).mode & 0o077;
    if (mode !== 0) chmodSync(file, 0o600);
    return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof DomicileError) throw err;
      throw new DomicileError('UNAVAILABLE', `cannot read the secret file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(bytes).toString('base64url');
  // 'wx': never overwrite a secret another process created meanwhile.
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw new DomicileError('UNAVAILABLE', `cannot create the secret file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
