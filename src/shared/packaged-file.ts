import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: the nearest folder above this file with a package.json (from src/ or from dist/src/ alike). */
function packageRootOf(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}

/** The package's root folder, to find what ships with it (the scenario's examples). */
export const packageRoot = packageRootOf(dirname(fileURLToPath(import.meta.url)));

/** A file that ships with the package (the scenario's examples, say). */
export function packagedFile(...parts: string[]): string {
  return join(packageRoot, ...parts);
}
