import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load-policy.js';
import { maxListedProblems } from '../../src/policy/policy-problem.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

/**
 * A policy of many copies of one placement rule: every copy is ambiguous with the rule it
 * copies, and the check says so in time linear in the policy's size (it used to compare every
 * rule with every earlier one: 1,000 copies crashed with "Maximum call stack size exceeded" and
 * no line, 50,000 ran over a minute), listing the first problems located and counting the rest.
 */
const base = readFileSync(join(examplesDir, 'phase2.yaml'), 'utf8').trimEnd();
/** phase2.yaml's rule placing the international shop, the second of its placement rules. */
const copied =
  '  - markets: [HK, IN, ID, MY, PH, SG, TW]\n    services: [shop]\n    regions: [sg-singapore, us-california]\n';
const rulesInBase = 7;
const withCopies = (n: number) => `${base}\n${copied.repeat(n)}`;
const firstCopyLine = base.split('\n').length + 1;

describe('a policy with many copies of one placement rule', () => {
  const dir = tempDir('large-policy');
  afterAll(() => dir.remove());

  for (const copies of [1_000, 50_000]) {
    it(`${copies} copies: the first ${maxListedProblems} problems located, in file order, and how many more`, () => {
      const result = parsePolicy(withCopies(copies), 'dup.yaml');
      if (result.ok) throw new Error('a policy with duplicate rules was accepted');
      expect(result.problems).toHaveLength(maxListedProblems + 1);
      const listed = result.problems.slice(0, maxListedProblems);
      listed.forEach((p, i) => {
        // Each copy is located on its own line, and names the rule it copies (placement[1], line 105).
        expect(p).toMatchObject({
          file: 'dup.yaml',
          line: firstCopyLine + 3 * i,
          path: `placement[${rulesInBase + i}]`,
        });
        expect(p.message).toBe(
          'ambiguous: the rule at line 105 also places HK, IN, ID, MY, PH, SG, TW × shop; name each market × service pair in one rule only',
        );
      });
      const rest = result.problems.at(-1)!;
      expect(rest.message).toBe(
        `and ${copies - maxListedProblems} more problems, not listed; fix these and check again`,
      );
      // Located too: at the first problem not listed.
      expect(rest).toMatchObject({
        file: 'dup.yaml',
        line: firstCopyLine + 3 * maxListedProblems,
        path: `placement[${rulesInBase + maxListedProblems}]`,
      });
    });
  }

  it('`domicile policy check` prints them as file:line:column lines and exits 1', async () => {
    const file = join(dir.path, 'dup-1000.yaml');
    writeFileSync(file, withCopies(1_000));
    const run = await runCli(['policy', 'check', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(maxListedProblems + 2);
    expect(lines[0]).toBe(
      `${file}:${firstCopyLine}:5 placement[7]: ambiguous: the rule at line 105 also places HK, IN, ID, MY, PH, SG, TW × shop; name each market × service pair in one rule only`,
    );
    expect(lines[maxListedProblems]).toBe(
      `${file}:${firstCopyLine + 3 * maxListedProblems}:5 placement[${rulesInBase + maxListedProblems}]: and 900 more problems, not listed; fix these and check again`,
    );
    expect(lines.at(-1)).toBe(`1000 problem(s) in ${file}`);
  });
});

/**
 * One rule listing 30,000 markets and 30,000 services (about half a megabyte): indexing or
 * checking it pair by pair was 9 × 10⁸ steps, and `domicile policy check` hung. Undeclared
 * names are reported, never indexed, and a rule past the pair cap is a located finding.
 */
describe('a policy with one huge placement rule', () => {
  const dir = tempDir('huge-rule');
  afterAll(() => dir.remove());
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const markets = Array.from({ length: 30_000 }, (_, i) => `${letters[Math.floor(i / 26) % 26]}${letters[i % 26]}`);
  const services = Array.from({ length: 30_000 }, (_, i) => `svc${i}`);
  const huge = `  - markets: [${markets.join(', ')}]\n    services: [${services.join(', ')}]\n    regions: [sg-singapore]\n`;
  const text = `${base}\n${huge}`;

  it('is refused with located findings: the pair cap at the rule, undeclared names at their place', () => {
    const result = parsePolicy(text, 'huge.yaml');
    if (result.ok) throw new Error('a policy with a huge rule was accepted');
    const messages = result.problems.map((p) => `${p.path}: ${p.message}`);
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^placement\[7\]: this rule names 900000000 market × service pairs, more than the 100000 a policy may; write "\*" for every market or service a rule means$/,
      ),
    );
    const cap = result.problems.find((p) => p.path === 'placement[7]')!;
    expect(cap).toMatchObject({ file: 'huge.yaml', line: firstCopyLine });
    expect(messages).toContainEqual(
      expect.stringMatching(/^placement\[7\]\.markets\[0\]: market "AA" is not declared/),
    );
    expect(messages.some((m) => m.includes('ambiguous'))).toBe(false);
  });

  it('`domicile policy check` reports it and exits 1', async () => {
    const file = join(dir.path, 'huge.yaml');
    writeFileSync(file, text);
    const run = await runCli(['policy', 'check', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `${file}:${firstCopyLine}:5 placement[7]: this rule names 900000000 market × service pairs`,
    );
    expect(run.stdout).toMatch(/problem\(s\) in /);
  }, 60_000);
});
