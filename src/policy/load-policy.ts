import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isSeq, isScalar, parseDocument, visit } from 'yaml';
import type { Document, YAMLError } from 'yaml';
import { DomicileError } from '../errors/domicile-error.js';
import { checkPolicy } from './check-policy.js';
import { formatPath, formatProblems, sortProblems } from './policy-problem.js';
import type { PolicyFinding, PolicyPath, PolicyProblem } from './policy-problem.js';
import { policySchema } from './policy-schema.js';
import type { Policy } from './policy-schema.js';
import { YamlLocator } from './yaml-locator.js';
import { describeValue, zodIssueFindings } from './zod-issue-findings.js';

export { formatProblems } from './policy-problem.js';
export type { PolicyProblem } from './policy-problem.js';

export type ParsePolicyResult = { ok: true; policy: Policy } | { ok: false; problems: PolicyProblem[] };

/**
 * Parses and validates a policy in three passes, each only on what the one before accepted:
 * YAML syntax (duplicate keys included), then shape (the zod schema), then meaning (names
 * that resolve, placement that is unambiguous, complete and active). Every problem carries
 * the line of the node it is about; `file` is only used to name it.
 */
export function parsePolicy(text: string, file: string): ParsePolicyResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locator = new YamlLocator(doc, lines);
  const problem = (finding: PolicyFinding): PolicyProblem => ({
    file,
    ...locator.positionOf(finding.path, finding.at === 'key' ? { key: true } : {}),
    path: formatPath(finding.path),
    message: finding.message,
  });
  const fail = (problems: PolicyProblem[]): ParsePolicyResult => ({ ok: false, problems: sortProblems(problems) });

  const syntax = [...syntaxProblems(doc.errors, locator, file), ...unresolvedAliases(doc, locator, file)];
  if (syntax.length > 0) return fail(syntax);

  if (!isMap(doc.contents)) return fail([notAMapping(doc, locator, file)]);

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // yaml's own limits (an alias bomb, say): no node to point at beyond the document.
    return fail([{ file, line: 1, column: 1, path: '', message: `cannot read this YAML: ${(error as Error).message}; simplify the anchors and aliases` }]);
  }

  const parsed = policySchema.safeParse(data);
  if (!parsed.success) {
    return fail(parsed.error.issues.flatMap((issue) => zodIssueFindings(issue, data, policySchema)).map(problem));
  }

  const findings = checkPolicy(parsed.data, (path: PolicyPath) => `line ${locator.positionOf(path).line}`);
  if (findings.length > 0) return fail(findings.map(problem));
  return { ok: true, policy: parsed.data };
}

/**
 * Reads and validates a policy file. Throws DomicileError('POLICY_INVALID') whose message is
 * the formatted problems (one `file:line:column path: message` per line) and whose
 * `details.problems` holds them, for a file that is missing, unreadable or invalid.
 */
export async function loadPolicyFile(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const problems: PolicyProblem[] = [{ file: path, line: 1, column: 1, path: '', message: unreadableMessage(error) }];
    throw new DomicileError('POLICY_INVALID', formatProblems(problems), { cause: error, details: { problems } });
  }
  const result = parsePolicy(text, path);
  if (!result.ok) {
    throw new DomicileError('POLICY_INVALID', formatProblems(result.problems), { details: { problems: result.problems } });
  }
  return result.policy;
}

function unreadableMessage(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such policy file; check the path, or start from one of the examples (examples/phase3.yaml)';
    case 'EISDIR':
      return 'this is a folder, not a policy file; give the path of a .yaml file in it';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied reading the policy file; make it readable by the user running domicile';
    default:
      return `cannot read the policy file (${code ?? (error as Error).message}); check the path and that it is a readable YAML file`;
  }
}

/** What to do about each kind of YAML error, in words for whoever edits the policy. */
const syntaxHints: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  BAD_INDENT: 'check the indentation here, and that every [ or { above is closed',
  MISSING_CHAR: 'check the indentation, quotes and brackets here',
  BLOCK_AS_IMPLICIT_KEY: 'put a nested mapping on its own indented lines, or quote a value that contains ": "',
  MULTILINE_IMPLICIT_KEY: 'keep each key on one line, followed by ": "',
  UNEXPECTED_TOKEN: 'remove or quote the unexpected character',
};

/**
 * The YAML errors worth reporting: every duplicate key (each is its own mistake), but only
 * the first of the others, because after one the parser's reading of the rest is a guess and
 * its further errors are echoes of the first.
 */
function syntaxProblems(errors: readonly YAMLError[], locator: YamlLocator, file: string): PolicyProblem[] {
  const firstOther = errors.find((e) => e.code !== 'DUPLICATE_KEY');
  return errors
    .filter((e) => e.code === 'DUPLICATE_KEY' || e === firstOther)
    .map((error) => syntaxProblem(error, locator, file));
}

function syntaxProblem(error: YAMLError, locator: YamlLocator, file: string): PolicyProblem {
  const offset = error.pos[0];
  const position = locator.positionAt(offset);
  if (error.code === 'DUPLICATE_KEY') {
    // The parser points at the second occurrence; the walk by path finds the first.
    const path = locator.pathAt(offset);
    const key = String(path.at(-1) ?? '?');
    const first = locator.positionOf(path, { key: true });
    return {
      file,
      ...position,
      path: formatPath(path),
      message: `duplicate key "${key}" (first at line ${first.line}); write each key once in a mapping: remove one, or merge them`,
    };
  }
  if (error.code === 'MULTIPLE_DOCS') {
    return { file, ...position, path: '', message: 'a second YAML document starts here; a policy file holds one: remove the "---" line and what follows it' };
  }
  // No path: in a tree the parser could not build, it would name keys the author never meant.
  const hint = syntaxHints[error.code] ?? 'fix the YAML syntax here';
  return { file, ...position, path: '', message: `YAML syntax error: ${error.message}; ${hint}` };
}

/** An alias to an anchor that is not (yet) defined parses fine and only fails on use. */
function unresolvedAliases(doc: Document, locator: YamlLocator, file: string): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return;
      const offset = alias.range?.[0] ?? 0;
      problems.push({
        file,
        ...locator.positionAt(offset),
        path: formatPath(locator.pathAt(offset)),
        message: `unknown alias "*${alias.source}"; define the anchor &${alias.source} before this line, or write the value out`,
      });
    },
  });
  return problems;
}

function notAMapping(doc: Document, locator: YamlLocator, file: string): PolicyProblem {
  const contents = doc.contents;
  const where = locator.positionAt(contents?.range?.[0] ?? 0);
  const expected = 'a policy is a mapping with the keys version, name, regions, markets, services and placement';
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    return { file, ...where, path: '', message: `the file is empty; ${expected}: start from one of the examples (examples/phase3.yaml)` };
  }
  const got = isSeq(contents) ? 'a list' : isScalar(contents) ? describeValue(contents.value) : 'an alias';
  return { file, ...where, path: '', message: `the document is ${got}, not a mapping; ${expected}, written as "key: value" lines` };
}
