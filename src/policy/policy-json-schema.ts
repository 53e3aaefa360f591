import { z } from 'zod';
import { policySchema } from './policy-schema.js';

/**
 * The JSON Schema of a policy file, generated from the zod schema so the two never disagree.
 * `io: 'input'` describes what an author writes, so keys with defaults (store, keys,
 * purposes) are optional; draft-07 because it is the draft editors' YAML support (the
 * yaml-language-server in VS Code, JetBrains) handles best. `scripts/policy-json-schema.ts`
 * writes it to schema/policy.schema.json, and a test fails when that file is stale.
 */
export function policyJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(policySchema, { io: 'input', target: 'draft-7' });
  return {
    $schema,
    title: 'Domicile residency policy',
    description:
      'Regions, markets, services and placement rules: which regions may hold the personal data of which market, per service. Generated from src/policy/policy-schema.ts by `npm run schema`; do not edit.',
    ...rest,
  };
}

/** The file's exact text: stable key order, two-space indent, a final newline. */
export function policyJsonSchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
