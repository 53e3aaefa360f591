import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { policyJsonSchema, policyJsonSchemaText } from '../../src/policy/policy-json-schema.js';

describe('schema/policy.schema.json', () => {
  it('is what the zod schema generates now (run `npm run schema` after changing the schema)', async () => {
    const committed = await readFile(new URL('../../schema/policy.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(policyJsonSchemaText());
  });

  it('describes what authors write: draft-07, closed objects, defaults optional', () => {
    const schema = policyJsonSchema() as {
      $schema: string;
      required: string[];
      additionalProperties: boolean;
      properties: { regions: { items: { required: string[]; properties: { status: { enum: string[] } } } } };
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.additionalProperties).toBe(false);
    // purposes has a default ([]), so an author may leave it out.
    expect(schema.required).toEqual(['version', 'name', 'regions', 'markets', 'services', 'placement']);
    // store and keys default to the embedded SQLite file and keyring.
    expect(schema.properties.regions.items.required).toEqual(['id', 'provider', 'location', 'status']);
    expect(schema.properties.regions.items.properties.status.enum).toEqual(['planned', 'active', 'draining']);
  });
});
