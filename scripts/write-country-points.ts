// Writes web/src/country-points.json (see scripts/country-points-data.ts); test/web/country-points.test.ts
// fails until it is up to date.
import { writeFile } from 'node:fs/promises';
import { countryPointsText } from './country-points-data.js';

const target = new URL('../web/src/country-points.json', import.meta.url);
await writeFile(target, countryPointsText());
process.stdout.write(`wrote ${target.pathname}\n`);
