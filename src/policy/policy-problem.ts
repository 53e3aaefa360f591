/**
 * One thing wrong with a policy file, located so that an editor can jump to it: the file as
 * the user named it, a 1-based line and column, the path of the offending value inside the
 * policy (for example "placement[2].regions[0]"; empty for the document itself), and a
 * message that says what is wrong and what to write instead.
 */
export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
  /** Only on the last problem of a list cut at maxListedProblems: how many more were left out. */
  more?: number;
}

/** Problems listed at most: past this, a list says how many more there are (they are mostly echoes). */
export const maxListedProblems = 100;

/** A path inside a policy as zod and the YAML tree see it: keys and list indexes. */
export type PolicyPath = ReadonlyArray<string | number>;

/**
 * A problem before it is located in a file: checks that work on parsed values (zod's, the
 * semantic ones) produce these, and the loader turns each path into a line and column. `at:
 * 'key'` points at a mapping entry's key instead of its value (an unknown key, say).
 */
export interface PolicyFinding {
  path: PolicyPath;
  message: string;
  at?: 'key';
}

/** ["placement", 2, "regions", 0] → "placement[2].regions[0]"; [] → "". */
export function formatPath(path: PolicyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/**
 * One line per problem, in the `file:line:column` form that terminals and editors turn into
 * links: `examples/bad.yaml:14:7 placement[2].regions[0]: unknown region "sg-singapor"; …`.
 */
export function formatProblems(problems: readonly PolicyProblem[]): string {
  return problems
    .map((p) => `${p.file}:${p.line}:${p.column} ${p.path === '' ? '' : `${p.path}: `}${p.message}`)
    .join('\n');
}

/** Problems in reading order, so the first one printed is the first one in the file. */
export function sortProblems(problems: readonly PolicyProblem[]): PolicyProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Problems in reading order, at most maxListedProblems of them and, when there are more, one
 * last problem located at the first one left out that says how many (`more`): a policy of
 * 50,000 copies of a rule gets a readable answer, and every line of it names a file and line.
 */
export function listProblems(problems: readonly PolicyProblem[]): PolicyProblem[] {
  const sorted = sortProblems(problems);
  const next = sorted[maxListedProblems];
  if (next === undefined) return sorted;
  const more = sorted.length - maxListedProblems;
  return [
    ...sorted.slice(0, maxListedProblems),
    {
      file: next.file,
      line: next.line,
      column: next.column,
      path: next.path,
      message: `and ${more} more problems, not listed; fix these and check again`,
      more,
    },
  ];
}

/** How many problems a list stands for: those listed, and those it says were left out. */
export function problemCount(problems: readonly PolicyProblem[]): number {
  const more = problems.at(-1)?.more;
  return more === undefined ? problems.length : problems.length - 1 + more;
}
