import { z } from 'zod';
import { DomicileError } from '../errors/domicile-error.js';
import { countryCode } from '../shared/country-code.js';

/**
 * The fields every side of a region shares (ids, record keys, markets, collections, epochs),
 * as schemas written once: the region contract (region-client.ts) checks a node's requests with
 * them, and the gateway's HTTP schemas use the same ones, so a limit is the same everywhere.
 * Each schema's messages name the field and what it takes, as a client reads them in a 400.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point: ids and keys may hold none
const controlCharacters = /[\u0000-\u001f\u007f]/;

/** A name: 1 to `max` characters, none of them a control character. */
export function idField(field: string, max = 128) {
  const message = `${field} is a string of 1 to ${max} characters without control characters`;
  return z
    .string({ error: message })
    .min(1, message)
    .max(max, message)
    .refine((v) => !controlCharacters.test(v), message);
}

/** A whole number of at least `min`; `what` says what it counts. */
export function wholeField(field: string, min: number, what: string) {
  const message = `${field} is a whole number of at least ${min} (${what})`;
  return z.number({ error: message }).int(message).min(min, message);
}

export function stringField(field: string) {
  return z.string({ error: `${field} is a string` });
}

export const userId = idField('userId');
export const serviceId = idField('service', 63);
export const collectionId = idField('collection', 63);
/** The directory epoch a request about a user was routed with. */
export const epoch = wholeField('epoch', 0, 'the directory epoch the request was routed with');
export const market = countryCode('market');
/** A record's key, as a region's node takes it (from the gateway, a service or a migration). */
export const recordKey = idField('key', 128);
/**
 * A record's key as a client names it in a URL path: a region's key of the characters a path
 * carries unescaped (`~` marks a record's parts).
 */
export const clientRecordKey = recordKey.regex(/^[A-Za-z0-9._~-]+$/, 'a key is 1 to 128 of A-Z a-z 0-9 . _ ~ -');
export const ifVersion = wholeField('ifVersion', 0, '0: the record must not exist yet');

/** Which user, service and directory epoch a request was routed with. */
export const tenantRef = z.object({ userId, service: serviceId, epoch });

export function badRequest(field: string, message: string): DomicileError {
  return new DomicileError('BAD_REQUEST', message, { details: { field } });
}

/**
 * The field a schema's complaint is about, from its path: the names after the last array
 * index, so `users[0].states.deleted` is `states.deleted`, `users[0].states.records[2].version`
 * is `version`, and an entry itself (`userIds[3]`) is its array, `userIds`.
 */
function fieldOf(path: readonly PropertyKey[]): string {
  let end = path.length;
  while (end > 0 && typeof path[end - 1] === 'number') end--;
  let start = end;
  while (start > 0 && typeof path[start - 1] === 'string') start--;
  return path.slice(start, end).join('.') || 'body';
}

/**
 * Parses a value with a schema; the first complaint becomes a BAD_REQUEST naming its field
 * (`field` when the value is a field itself rather than an object of them).
 */
export function parseField<S extends z.ZodType>(schema: S, value: unknown, field = 'body'): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw badRequest(
    issue && issue.path.length > 0 ? fieldOf(issue.path) : field,
    issue?.message ?? 'the request is malformed',
  );
}
