import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder under the system temp dir for one benchmark run, and its removal. */
export function tempFolder(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `domicile-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
