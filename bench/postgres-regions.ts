import pg from 'pg';
import type { Policy } from '../src/policy/policy-schema.js';

/**
 * Regions of a policy put on PostgreSQL: each named region gets a schema of its own on one
 * server (as it would get a database of its own in its own country), reached through the
 * connection's search_path. For the benchmarks and tests that run the scenario on PostgreSQL.
 */
export function onPostgres(policy: Policy, url: string, schemas: Readonly<Record<string, string>>): Policy {
  return {
    ...policy,
    regions: policy.regions.map((r) => {
      const schema = schemas[r.id];
      return schema ? { ...r, store: { kind: 'postgres' as const, url: inSchema(url, schema) } } : r;
    }),
  };
}

/** A URL of the same database whose connections work in `schema` (their search_path). */
export function inSchema(url: string, schema: string): string {
  const at = new URL(url);
  at.searchParams.set('options', `-c search_path=${schema}`);
  return at.toString();
}

/** Fresh schemas on a server, and their removal. */
export async function postgresSchemas(
  url: string,
  names: readonly string[],
): Promise<{ schemas: Record<string, string>; drop: () => Promise<void> }> {
  const admin = new pg.Pool({ connectionString: url, max: 1 });
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const schemas: Record<string, string> = {};
  try {
    for (const name of names) {
      const schema = `${name.replace(/[^a-z0-9]/g, '_')}_${suffix}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      schemas[name] = schema;
    }
  } catch (err) {
    await admin.end();
    throw err;
  }
  return {
    schemas,
    drop: async () => {
      for (const schema of Object.values(schemas)) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}
