import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * Creates a file that holds key material, atomically: a temporary file (0600, in a 0700
 * folder) is written and synced, then linked into place. link() never replaces an existing
 * file, so two processes racing to create it end up sharing one (the loser reads the
 * winner's), and a crash never leaves a half-written file behind. Returns the text in place.
 */
export function createPrivateFile(path: string, text: string, what: string): string {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new DomicileError('UNAVAILABLE', `cannot create ${what} at ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return readFileSync(path, 'utf8');
  } finally {
    unlinkSync(temp);
  }
  syncDirectory(dir);
  return text;
}

function syncDirectory(dir: string): void {
  // Makes the new directory entry durable; not every platform lets a directory be opened.
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort: Windows cannot fsync a directory, and the file itself is already synced
  }
}

/**
 * Reads a key file, creating it with `make()` (see createPrivateFile) when it is absent, and
 * refuses one that others can read (see checkPrivateFile).
 */
export function readOrCreatePrivateFile(path: string, what: string, make: () => string, remedy: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DomicileError('UNAVAILABLE', `cannot read ${what} at ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    text = createPrivateFile(path, make(), what);
  }
  checkPrivateFile(path, `${what} at ${path}`, remedy);
  return text;
}

/** A key file others can read may already have leaked: refuse it rather than fix it silently. */
export function checkPrivateFile(path: string, what: string, remedy: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new DomicileError(
      'FORBIDDEN',
      `${what} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}): run "chmod 600 ${path}", and ${remedy}`,
      {
        details: { path, mode: mode.toString(8) },
      },
    );
  }
}
