// Writes schema/policy.schema.json from the zod schema: `npm run schema` after any change to
// src/policy/policy-schema.ts (test/policy/policy-json-schema.test.ts fails until you do).
import { writeFile } from 'node:fs/promises';
import { policyJsonSchemaText } from '../src/policy/policy-json-schema.js';

const target = new URL('../schema/policy.schema.json', import.meta.url);
await writeFile(target, policyJsonSchemaText());
process.stdout.write(`wrote ${target.pathname}\n`);
