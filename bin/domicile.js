#!/usr/bin/env node
// The package's command. The TypeScript sources are compiled to dist/ by `npm run build`
// (which `npm ci` runs through the prepare script, when the build tools are installed; the
// published package carries dist/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(
    'domicile: dist/ is not built: run `npm ci` (or `npm run build`) in the project first; an install with --omit=dev needs a dist/ built before it',
  );
  process.exit(2);
}
const { main } = await import(entry.href);

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`domicile: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
