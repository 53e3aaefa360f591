import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DomicileError } from '../../errors/domicile-error.js';

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes, at most 64');

export const productSchema = z
  .object({
    sku: id,
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    price: z
      .object({
        amount: z.number().int().min(0),
        currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code, for example INR'),
      })
      .strict(),
  })
  .strict();

export const saleSchema = z
  .object({
    id,
    sku: id,
    units: z.number().int().min(1).max(100_000_000),
  })
  .strict();

export const catalogSchema = z
  .object({
    products: z.array(productSchema).min(1),
    sales: z.array(saleSchema).default([]),
  })
  .strict();

export type Product = z.infer<typeof productSchema>;
export type Sale = z.infer<typeof saleSchema>;

/** The catalog, parsed, with the ETags of what the gateway serves of it. */
export interface Catalog {
  products: Product[];
  sales: Sale[];
  /** ETag of the whole product list (a strong validator: a hash of the bytes served). */
  etag: string;
  /** The list's JSON, as served. */
  body: string;
}

function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Validates a catalog's data; `file` only names it in errors, which say what to fix. */
export function parseCatalog(data: unknown, file: string): Catalog {
  const parsed = catalogSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new DomicileError('BAD_REQUEST', `catalog ${file} is not valid: ${problems.join('; ')}`);
  }
  const { products, sales } = parsed.data;
  const seen = new Set<string>();
  for (const p of products) {
    if (seen.has(p.sku))
      throw new DomicileError(
        'BAD_REQUEST',
        `catalog ${file}: product ${p.sku} is listed twice; give each product one entry`,
      );
    seen.add(p.sku);
  }
  const saleIds = new Set<string>();
  for (const s of sales) {
    if (!seen.has(s.sku))
      throw new DomicileError(
        'BAD_REQUEST',
        `catalog ${file}: sale ${s.id} sells "${s.sku}", which is not a product; use one of: ${[...seen].join(', ')}`,
      );
    if (saleIds.has(s.id)) throw new DomicileError('BAD_REQUEST', `catalog ${file}: sale ${s.id} is listed twice`);
    saleIds.add(s.id);
  }
  const body = JSON.stringify({ products });
  return { products, sales, etag: etagOf(body), body };
}

/** Reads a catalog YAML file; a missing or malformed file is a BAD_REQUEST naming it. */
export async function loadCatalogFile(file: string): Promise<Catalog> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DomicileError(
      'BAD_REQUEST',
      `cannot read the catalog ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}; give a catalog YAML file with --catalog`,
      { cause: err },
    );
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0)
    throw new DomicileError('BAD_REQUEST', `catalog ${file} is not valid YAML: ${doc.errors[0]!.message}`);
  return parseCatalog(doc.toJS(), file);
}

/** One product's JSON as served, and its ETag. */
export function productEntity(product: Product): { body: string; etag: string } {
  const body = JSON.stringify(product);
  return { body, etag: etagOf(body) };
}
