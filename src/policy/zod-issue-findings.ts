import { z } from 'zod';
import type { PolicyFinding, PolicyPath } from './policy-problem.js';

type Issue = z.core.$ZodIssue;

/**
 * Rewrites one zod issue into findings whose messages say what is wrong and what to write
 * instead, in the policy's own words: zod's defaults ("Invalid input: expected array,
 * received string") are written for programmers, a policy is written by whoever runs the
 * platform. `data` is the parsed YAML (to quote the offending value) and `schema` the schema
 * it was checked against (to list the keys allowed where an unknown one was written).
 */
export function zodIssueFindings(
  issue: Issue,
  data: unknown,
  schema: z.ZodType,
  prefix: PolicyPath = [],
): PolicyFinding[] {
  const path: PolicyPath = [...prefix, ...issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s))];
  const value = valueAt(data, path);
  const key = path.at(-1);
  const noun = nounFor(path);
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined && typeof key === 'string') {
        return [
          { path, message: `missing key "${key}"; add ${key}: <${placeholders[issue.expected] ?? issue.expected}>` },
        ];
      }
      const expected = expectations[issue.expected];
      if (expected === undefined) return [{ path, message: issue.message }];
      // `consent:` left empty: deleting the line is as good a fix as filling it in.
      const orRemove = value === null && isOptional(schemaAt(schema, path, data)) ? ', or remove the key' : '';
      return [{ path, message: `expected ${expected.what}, got ${describeValue(value)}; ${expected.hint}${orRemove}` }];
    }
    case 'invalid_value': {
      const allowed = issue.values.map(String).join(', ');
      if (value === undefined && typeof key === 'string') {
        return [{ path, message: `missing key "${key}"; add ${key}: <one of ${allowed}>` }];
      }
      return [{ path, message: `unknown ${noun} ${describeValue(value)}; write one of: ${allowed}` }];
    }
    case 'invalid_union':
      return unionFindings(issue, path, value, noun, data, schema);
    case 'invalid_format': {
      const why =
        issue.message.startsWith('Invalid') && 'pattern' in issue
          ? `write a value matching ${String(issue.pattern)}`
          : issue.message;
      return [{ path, message: `invalid ${noun} ${describeValue(value)}; ${why}` }];
    }
    case 'too_small':
    case 'too_big':
      return [{ path, message: sizeMessage(issue, value) }];
    case 'unrecognized_keys': {
      const allowed = allowedKeys(schemaAt(schema, path, data), value);
      return issue.keys.map((k) => ({
        path: [...path, k],
        at: 'key' as const,
        message:
          allowed === undefined
            ? `unknown key "${k}"; remove it`
            : `unknown key "${k}"; the keys allowed here are: ${allowed.join(', ')}`,
      }));
    }
    default:
      return [{ path, message: issue.message }];
  }
}

const placeholders: Record<string, string> = {
  string: 'text',
  number: 'number',
  int: 'whole number',
  array: 'list',
  object: 'mapping',
  boolean: 'true or false',
};

const expectations: Record<string, { what: string; hint: string }> = {
  string: { what: 'text', hint: 'write text (in quotes if it would otherwise read as a number, true/false or null)' },
  number: { what: 'a number', hint: 'write a number, without quotes' },
  int: { what: 'a whole number', hint: 'write a whole number, without quotes, for example 1' },
  array: { what: 'a list', hint: 'write a list: one "- item" per line, or [a, b] on one line' },
  object: { what: 'a mapping', hint: 'write "key: value" lines, indented under this one' },
  boolean: { what: 'true or false', hint: 'write true or false, without quotes' },
};

/** What a bad value was, in a policy author's terms. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** "status" for regions[0].status; "market" for placement[1].markets[0]. */
function nounFor(path: PolicyPath): string {
  const last = path.at(-1);
  if (typeof last === 'string') return last;
  const parent = path.at(-2);
  if (typeof parent === 'string') return singular[parent] ?? 'value';
  return 'value';
}

const singular: Record<string, string> = {
  regions: 'region',
  markets: 'market',
  services: 'service',
  categories: 'category',
  purposes: 'purpose',
  placement: 'rule',
};

function sizeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown): string {
  const small = issue.code === 'too_small';
  const limit = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
  if (issue.origin === 'array') {
    if (small && limit === 1) return 'empty list; write at least one item';
    return `${Array.isArray(value) ? value.length : 'wrong number of'} items; write ${small ? 'at least' : 'at most'} ${limit}`;
  }
  if (issue.origin === 'string') {
    if (small && limit === 1) return 'empty text; write at least one character';
    return `text of ${typeof value === 'string' ? value.length : '?'} characters; write ${small ? 'at least' : 'at most'} ${limit}`;
  }
  const bound = small
    ? issue.inclusive
      ? 'of at least'
      : 'greater than'
    : issue.inclusive
      ? 'of at most'
      : 'less than';
  return `${describeValue(value)} is too ${small ? 'small' : 'large'}; write a number ${bound} ${limit}`;
}

function unionFindings(
  issue: z.core.$ZodIssueInvalidUnion,
  path: PolicyPath,
  value: unknown,
  noun: string,
  data: unknown,
  schema: z.ZodType,
): PolicyFinding[] {
  // A discriminated union whose tag is missing or unknown: zod lists the tags it knows.
  if ('options' in issue && Array.isArray(issue.options)) {
    const allowed = issue.options.map(String).join(', ');
    const key = path.at(-1);
    if (value === undefined && typeof key === 'string')
      return [{ path, message: `missing key "${key}"; add ${key}: <one of ${allowed}>` }];
    return [{ path, message: `unknown ${noun} ${describeValue(value)}; write one of: ${allowed}` }];
  }
  // A branch that got past the type check (a string that fails a pattern) explains best.
  const branches = issue.errors;
  const deep = branches.find(
    (b) => b.length > 0 && b.every((i) => i.code !== 'invalid_type' && i.code !== 'invalid_value'),
  );
  if (deep !== undefined) return deep.flatMap((i) => zodIssueFindings(i, data, schema, path));
  const alternatives = branches.flat().flatMap((i) => {
    if (i.code === 'invalid_value') return i.values.map((v) => JSON.stringify(v));
    if (i.code === 'invalid_type') return [expectations[i.expected]?.what ?? i.expected];
    return [];
  });
  const what = alternatives.length > 0 ? alternatives.join(' or ') : 'something else';
  return [{ path, message: `expected ${what}, got ${describeValue(value)}; write ${what}` }];
}

function valueAt(data: unknown, path: PolicyPath): unknown {
  let node = data;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  return node;
}

function isOptional(schema: unknown): boolean {
  return schema instanceof z.ZodOptional || schema instanceof z.ZodDefault;
}

function unwrap(schema: unknown): unknown {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap();
  return s;
}

/**
 * The schema of the value at `path`, as declared (optional or defaulted wrappers kept),
 * following unions by the value actually written.
 */
function schemaAt(schema: unknown, path: PolicyPath, data: unknown): unknown {
  let s = schema;
  for (let i = 0; i < path.length; i++) {
    const container = pickOption(unwrap(s), valueAt(data, path.slice(0, i)));
    const segment = path[i];
    if (container instanceof z.ZodObject && typeof segment === 'string') s = container.shape[segment];
    else if (container instanceof z.ZodArray) s = container.element;
    else return undefined;
  }
  return s;
}

/** For a union of objects, the option whose literal fields (such as `kind`) match the value. */
function pickOption(schema: unknown, value: unknown): unknown {
  if (!(schema instanceof z.ZodUnion) || value === null || typeof value !== 'object') return schema;
  const record = value as Record<string, unknown>;
  const objects = schema.options.map(unwrap).filter((o): o is z.ZodObject => o instanceof z.ZodObject);
  const match = objects.find((o) =>
    Object.entries(o.shape).every(
      ([k, field]) => !(field instanceof z.ZodLiteral) || field.safeParse(record[k]).success,
    ),
  );
  return match ?? schema;
}

function allowedKeys(schema: unknown, value: unknown): string[] | undefined {
  const s = pickOption(unwrap(schema), value);
  if (s instanceof z.ZodObject) return Object.keys(s.shape);
  return undefined;
}
