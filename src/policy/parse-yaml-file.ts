import { readFile } from 'node:fs/promises';
import type { Document, YAMLError } from 'yaml';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import type { PolicyFinding, PolicyPath, PolicyProblem } from './policy-problem.js';
import { formatPath, listProblems } from './policy-problem.js';
import { YamlLocator } from './yaml-locator.js';
import { describeValue, zodIssueFindings } from './zod-issue-findings.js';

export type ParseYamlResult<T> = { ok: true; value: T } | { ok: false; problems: PolicyProblem[] };

/** What a kind of file is, in the words its problems use. */
export interface YamlFileKind {
  /** "policy", "latency file". */
  noun: string;
  /** What the document must be, for an empty file or one that is not a mapping. */
  expected: string;
  /** Where to start from, for an empty file. */
  example: string;
}

/**
 * Parses and validates a YAML file in three passes, each only on what the one before
 * accepted: YAML syntax (duplicate keys included), then shape (the zod schema), then meaning
 * (`check`). Every problem carries the line of the node it is about; `file` only names it.
 * Policies and latency files are read this way.
 */
export function parseYamlFile<T>(
  text: string,
  file: string,
  kind: YamlFileKind,
  schema: z.ZodType<T>,
  check: (value: T, lineOf: (path: PolicyPath) => string) => PolicyFinding[] = () => [],
): ParseYamlResult<T> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locator = new YamlLocator(doc, lines);
  const problem = (finding: PolicyFinding): PolicyProblem => ({
    file,
    ...locator.positionOf(finding.path, finding.at === 'key' ? { key: true } : {}),
    path: formatPath(finding.path),
    message: finding.message,
  });
  const fail = (problems: PolicyProblem[]): ParseYamlResult<T> => ({ ok: false, problems: listProblems(problems) });

  const syntax = [...syntaxProblems(doc.errors, locator, file, kind), ...unresolvedAliases(doc, locator, file)];
  if (syntax.length > 0) return fail(syntax);

  if (!isMap(doc.contents)) return fail([notAMapping(doc, locator, file, kind)]);

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // yaml's own limits (an alias bomb, say): no node to point at beyond the document.
    return fail([
      {
        file,
        line: 1,
        column: 1,
        path: '',
        message: `cannot read this YAML: ${(error as Error).message}; simplify the anchors and aliases`,
      },
    ]);
  }

  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    return fail(parsed.error.issues.flatMap((issue) => zodIssueFindings(issue, data, schema)).map(problem));
  }

  const findings = check(parsed.data, (path: PolicyPath) => `line ${locator.positionOf(path).line}`);
  if (findings.length > 0) return fail(findings.map(problem));
  return { ok: true, value: parsed.data };
}

/** The text of a file, or the one problem that says why it cannot be read. */
export async function readYamlText(
  path: string,
  kind: YamlFileKind,
): Promise<{ ok: true; text: string } | { ok: false; problems: PolicyProblem[] }> {
  try {
    return { ok: true, text: await readFile(path, 'utf8') };
  } catch (error) {
    return {
      ok: false,
      problems: [{ file: path, line: 1, column: 1, path: '', message: unreadableMessage(error, kind) }],
    };
  }
}

function unreadableMessage(error: unknown, kind: YamlFileKind): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return `no such ${kind.noun}; check the path, or start from ${kind.example}`;
    case 'EISDIR':
      return `this is a folder, not a ${kind.noun}; give the path of a .yaml file in it`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied reading the ${kind.noun}; make it readable by the user running domicile`;
    default:
      return `cannot read the ${kind.noun} (${code ?? (error as Error).message}); check the path and that it is a readable YAML file`;
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
function syntaxProblems(
  errors: readonly YAMLError[],
  locator: YamlLocator,
  file: string,
  kind: YamlFileKind,
): PolicyProblem[] {
  const firstOther = errors.find((e) => e.code !== 'DUPLICATE_KEY');
  return errors
    .filter((e) => e.code === 'DUPLICATE_KEY' || e === firstOther)
    .map((error) => syntaxProblem(error, locator, file, kind));
}

function syntaxProblem(error: YAMLError, locator: YamlLocator, file: string, kind: YamlFileKind): PolicyProblem {
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
    return {
      file,
      ...position,
      path: '',
      message: `a second YAML document starts here; a ${kind.noun} holds one: remove the "---" line and what follows it`,
    };
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

function notAMapping(doc: Document, locator: YamlLocator, file: string, kind: YamlFileKind): PolicyProblem {
  const contents = doc.contents;
  const where = locator.positionAt(contents?.range?.[0] ?? 0);
  const { expected } = kind;
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    return { file, ...where, path: '', message: `the file is empty; ${expected}: start from ${kind.example}` };
  }
  const got = isSeq(contents) ? 'a list' : isScalar(contents) ? describeValue(contents.value) : 'an alias';
  return {
    file,
    ...where,
    path: '',
    message: `the document is ${got}, not a mapping; ${expected}, written as "key: value" lines`,
  };
}
