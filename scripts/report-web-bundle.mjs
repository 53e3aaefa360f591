// Prints the size of the dashboard's bundle after `npm run build`: what an operator's browser
// downloads on first visit (raw and gzip), so a change that bloats it shows in every build.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = new URL('../dist/web/', import.meta.url).pathname;
const files = [join(root, 'index.html'), ...readdirSync(join(root, 'assets')).map((f) => join(root, 'assets', f))];
let raw = 0;
let gzip = 0;
for (const file of files) {
  raw += statSync(file).size;
  gzip += gzipSync(readFileSync(file)).length;
}
process.stdout.write(
  `dashboard bundle: ${files.length} files, ${(raw / 1024).toFixed(1)} kB (${(gzip / 1024).toFixed(1)} kB gzip) in dist/web\n`,
);
