import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DomicileError } from '../../src/errors/domicile-error.js';
import { formatProblems, loadPolicyFile, parsePolicy } from '../../src/policy/load-policy.js';
import { miniPolicy, withLines } from './fixtures/mini-policy.js';
import { problemsOf } from './fixtures/problems-of.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

describe('parsePolicy', () => {
  it('accepts the mini policy and fills in the defaults', () => {
    const result = parsePolicy(miniPolicy, 'mini.yaml');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.policy.name).toBe('mini');
    expect(result.policy.regions.map((r) => [r.id, r.store, r.keys])).toEqual([
      ['sg-singapore', { kind: 'sqlite' }, { kind: 'keyring' }],
      ['cn-beijing', { kind: 'sqlite' }, { kind: 'keyring' }],
    ]);
  });

  it('returns each problem with file, line, column and path', () => {
    const result = parsePolicy(withLines({ 7: '    status: actve' }), 'policies/mini.yaml');
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          file: 'policies/mini.yaml',
          line: 7,
          column: 13,
          path: 'regions[0].status',
          message: 'unknown status "actve"; write one of: planned, active, draining',
        },
      ],
    });
  });
});

describe('YAML syntax problems', () => {
  it('a broken indentation: the first error only, not its echoes', () => {
    expect(problemsOf(withLines({ 5: '   provider: aws' }))).toEqual([
      'mini.yaml:5:1 YAML syntax error: Sequence item without - indicator; check the indentation, quotes and brackets here',
    ]);
  });

  it('a tab used to indent', () => {
    expect(problemsOf(withLines({ 5: '\tprovider: aws' }))).toEqual([
      'mini.yaml:5:1 YAML syntax error: Tabs are not allowed as indentation; indent with spaces, not tabs',
    ]);
  });

  it('an unquoted value with ": " in it', () => {
    expect(problemsOf(withLines({ 2: 'name: phase 1: shop' }))).toEqual([
      'mini.yaml:2:7 YAML syntax error: Nested mappings are not allowed in compact mappings; put a nested mapping on its own indented lines, or quote a value that contains ": "',
    ]);
  });

  it('an unclosed flow list', () => {
    expect(problemsOf(withLines({ 25: '    regions: [cn-beijing' }))).toEqual([
      'mini.yaml:26:3 YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]; check the indentation here, and that every [ or { above is closed',
    ]);
  });

  it('duplicate keys, each one, with the line of the first', () => {
    expect(
      problemsOf(
        withLines({ 5: '    provider: aws\n    provider: gcp', 11: '    status: active\n    status: planned' }),
      ),
    ).toEqual([
      'mini.yaml:6:5 regions[0].provider: duplicate key "provider" (first at line 5); write each key once in a mapping: remove one, or merge them',
      'mini.yaml:13:5 regions[1].status: duplicate key "status" (first at line 12); write each key once in a mapping: remove one, or merge them',
    ]);
  });

  it('an alias to an anchor that is not defined', () => {
    expect(problemsOf(withLines({ 25: '    regions: *beijing' }))).toEqual([
      'mini.yaml:25:14 placement[0].regions: unknown alias "*beijing"; define the anchor &beijing before this line, or write the value out',
    ]);
  });

  it('a second document', () => {
    expect(problemsOf(`${miniPolicy}---\nversion: 2\n`)).toEqual([
      'mini.yaml:29:1 a second YAML document starts here; a policy file holds one: remove the "---" line and what follows it',
    ]);
  });

  it('a document that is not a mapping', () => {
    expect(problemsOf('- version: 1\n- name: mini\n')).toEqual([
      'mini.yaml:1:1 the document is a list, not a mapping; a policy is a mapping with the keys version, name, regions, markets, services and placement, written as "key: value" lines',
    ]);
    expect(problemsOf('\n\nphase3\n')).toEqual([
      'mini.yaml:3:1 the document is "phase3", not a mapping; a policy is a mapping with the keys version, name, regions, markets, services and placement, written as "key: value" lines',
    ]);
    expect(problemsOf('# only a comment\n')).toEqual([
      'mini.yaml:1:1 the file is empty; a policy is a mapping with the keys version, name, regions, markets, services and placement: start from one of the examples (examples/phase3.yaml)',
    ]);
  });
});

describe("shape problems (the zod schema), in the policy author's words", () => {
  it('an unknown key at the top, with the keys allowed there', () => {
    expect(problemsOf(withLines({ 2: 'name: mini\ncolour: blue' }))).toEqual([
      'mini.yaml:3:1 colour: unknown key "colour"; the keys allowed here are: version, name, description, regions, markets, purposes, services, placement',
    ]);
  });

  it('an unknown key in a region', () => {
    expect(problemsOf(withLines({ 7: '    status: active\n    zone: a' }))).toEqual([
      'mini.yaml:8:5 regions[0].zone: unknown key "zone"; the keys allowed here are: id, name, provider, location, status, store, keys',
    ]);
  });

  it('an unknown key in a store lists the keys of that kind of store', () => {
    expect(
      problemsOf(withLines({ 7: '    status: active\n    store: { kind: sqlite, url: "postgres://db/sg" }' })),
    ).toEqual(['mini.yaml:8:28 regions[0].store.url: unknown key "url"; the keys allowed here are: kind, path']);
  });

  it('wrong types', () => {
    expect(problemsOf(withLines({ 1: 'version: one' }))).toEqual([
      'mini.yaml:1:10 version: expected a number, got "one"; write a number, without quotes',
    ]);
    expect(problemsOf(withLines({ 1: 'version: 1.5' }))).toEqual([
      'mini.yaml:1:10 version: expected a whole number, got 1.5; write a whole number, without quotes, for example 1',
    ]);
    expect(problemsOf(withLines({ 25: '    regions: cn-beijing' }))).toEqual([
      'mini.yaml:25:14 placement[0].regions: expected a list, got "cn-beijing"; write a list: one "- item" per line, or [a, b] on one line',
    ]);
    expect(problemsOf(withLines({ 13: '  - CN' }))).toEqual([
      'mini.yaml:13:5 markets[0]: expected a mapping, got "CN"; write "key: value" lines, indented under this one',
    ]);
  });

  it('an empty optional value can be filled in or removed', () => {
    expect(problemsOf(withLines({ 21: '    categories: [{ id: photos, consent: }]' }))).toEqual([
      'mini.yaml:21:32 services[1].categories[0].consent: expected text, got an empty value; write text (in quotes if it would otherwise read as a number, true/false or null), or remove the key',
    ]);
  });

  it('a missing key, at the line of the mapping it belongs in', () => {
    expect(problemsOf(withLines({ 5: '' }))).toEqual([
      'mini.yaml:4:5 regions[0].provider: missing key "provider"; add provider: <text>',
    ]);
    expect(problemsOf(withLines({ 28: '' }))).toEqual([
      'mini.yaml:26:5 placement[1].regions: missing key "regions"; add regions: <list>',
    ]);
    expect(problemsOf(withLines({ 7: '    status: active\n    store: { path: sg.db }' }))).toEqual([
      'mini.yaml:8:12 regions[0].store.kind: missing key "kind"; add kind: <one of sqlite, postgres>',
    ]);
  });

  it('a value outside an enum lists the allowed values', () => {
    expect(problemsOf(withLines({ 7: '    status: actve' }))).toEqual([
      'mini.yaml:7:13 regions[0].status: unknown status "actve"; write one of: planned, active, draining',
    ]);
    expect(problemsOf(withLines({ 7: '    status: active\n    store: { kind: mysql }' }))).toEqual([
      'mini.yaml:8:20 regions[0].store.kind: unknown kind "mysql"; write one of: sqlite, postgres',
    ]);
  });

  it('values that break a pattern say what the pattern is', () => {
    expect(problemsOf(withLines({ 4: '  - id: Sg-Singapore' }))).toEqual([
      'mini.yaml:4:9 regions[0].id: invalid id "Sg-Singapore"; an id is lower-case letters, digits and dashes, starting with a letter (for example "sg-singapore")',
    ]);
    expect(problemsOf(withLines({ 23: '  - markets: [cn]' }))).toEqual([
      'mini.yaml:23:15 placement[0].markets[0]: invalid market "cn"; a market is an ISO code in capitals or "*" for every unlisted market',
    ]);
    expect(
      problemsOf(withLines({ 7: '    status: active\n    store: { kind: postgres, url: "mysql://db/sg" }' })),
    ).toEqual([
      'mini.yaml:8:35 regions[0].store.url: invalid url "mysql://db/sg"; a PostgreSQL URL starts with postgres:// (for example postgres://127.0.0.1:5432/domicile_sg)',
    ]);
  });

  it('sizes and ranges', () => {
    expect(problemsOf(withLines({ 1: 'version: 0' }))).toEqual([
      'mini.yaml:1:10 version: 0 is too small; write a number greater than 0',
    ]);
    expect(problemsOf(withLines({ 2: 'name: ""' }))).toEqual([
      'mini.yaml:2:7 name: empty text; write at least one character',
    ]);
    expect(
      problemsOf(withLines({ 6: '    location: { city: Singapore, country: SG, lat: 91.29, lon: 103.85 }' })),
    ).toEqual(['mini.yaml:6:52 regions[0].location.lat: 91.29 is too large; write a number of at most 90']);
    expect(problemsOf(withLines({ 22: 'placement: []', 23: '', 24: '', 25: '', 26: '', 27: '', 28: '' }))).toEqual([
      'mini.yaml:22:12 placement: empty list; write at least one item',
    ]);
  });

  it('several problems come back in file order', () => {
    expect(problemsOf(withLines({ 1: 'version: 0', 7: '    status: actve', 28: '    regions: sg-singapore' }))).toEqual(
      [
        'mini.yaml:1:10 version: 0 is too small; write a number greater than 0',
        'mini.yaml:7:13 regions[0].status: unknown status "actve"; write one of: planned, active, draining',
        'mini.yaml:28:14 placement[1].regions: expected a list, got "sg-singapore"; write a list: one "- item" per line, or [a, b] on one line',
      ],
    );
  });
});

describe('formatProblems', () => {
  it('writes file:line:column, then the path if any, then the message', () => {
    expect(
      formatProblems([
        {
          file: 'examples/bad.yaml',
          line: 14,
          column: 7,
          path: 'placement[2].regions[0]',
          message: 'unknown region "sg-singapor"; write one of: cn-beijing, sg-singapore',
        },
        { file: 'examples/bad.yaml', line: 1, column: 1, path: '', message: 'the file is empty' },
      ]),
    ).toBe(
      'examples/bad.yaml:14:7 placement[2].regions[0]: unknown region "sg-singapor"; write one of: cn-beijing, sg-singapore\n' +
        'examples/bad.yaml:1:1 the file is empty',
    );
  });
});

describe('loadPolicyFile', () => {
  it('loads a valid file', async () => {
    const policy = await loadPolicyFile(new URL('../../examples/phase3.yaml', import.meta.url).pathname);
    expect(policy.name).toBe('phase3');
  });

  it('throws POLICY_INVALID whose message is the formatted problems', async () => {
    const file = fixture('unknown-region.yaml');
    const error = await loadPolicyFile(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomicileError);
    const e = error as DomicileError;
    expect(e.code).toBe('POLICY_INVALID');
    expect(e.message).toBe(
      `${file}:26:9 placement[1].regions[0]: unknown region "sg-singapor"; write one of: cn-beijing, sg-singapore`,
    );
    expect(e.details).toEqual({
      problems: [
        {
          file,
          line: 26,
          column: 9,
          path: 'placement[1].regions[0]',
          message: 'unknown region "sg-singapor"; write one of: cn-beijing, sg-singapore',
        },
      ],
    });
  });

  it('a missing file is a POLICY_INVALID error that names the path and what to do', async () => {
    const file = join(tmpdir(), 'no-such-dir-domicile', 'policy.yaml');
    await expect(loadPolicyFile(file)).rejects.toMatchObject({
      code: 'POLICY_INVALID',
      message: `${file}:1:1 no such policy file; check the path, or start from one of the examples (examples/phase3.yaml)`,
    });
  });

  it('a folder is a POLICY_INVALID error too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'domicile-policy-'));
    try {
      await expect(loadPolicyFile(dir)).rejects.toMatchObject({
        code: 'POLICY_INVALID',
        message: `${dir}:1:1 this is a folder, not a policy file; give the path of a .yaml file in it`,
      });
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
