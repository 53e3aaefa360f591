#!/usr/bin/env node
// The package's command. The TypeScript sources are compiled to dist/ by `npm run build`
// (which `npm ci` runs through the prepare script).
import { main } from '../dist/src/cli/main.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(`domicile: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
