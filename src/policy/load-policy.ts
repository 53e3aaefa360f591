import { DomicileError } from '../errors/domicile-error.js';
import { checkPolicy } from './check-policy.js';
import { parseYamlFile, readYamlText, type YamlFileKind } from './parse-yaml-file.js';
import type { PolicyProblem } from './policy-problem.js';
import { formatProblems } from './policy-problem.js';
import type { Policy } from './policy-schema.js';
import { policySchema } from './policy-schema.js';

export type { PolicyProblem } from './policy-problem.js';
export { formatProblems } from './policy-problem.js';

export type ParsePolicyResult = { ok: true; policy: Policy } | { ok: false; problems: PolicyProblem[] };

const policyKind: YamlFileKind = {
  noun: 'policy file',
  expected: 'a policy is a mapping with the keys version, name, regions, markets, services and placement',
  example: 'one of the examples (examples/phase3.yaml)',
};

/**
 * Parses and validates a policy in three passes, each only on what the one before accepted:
 * YAML syntax (duplicate keys included), then shape (the zod schema), then meaning (names
 * that resolve, placement that is unambiguous, complete and active). Every problem carries
 * the line of the node it is about; `file` is only used to name it.
 */
export function parsePolicy(text: string, file: string): ParsePolicyResult {
  const result = parseYamlFile(text, file, policyKind, policySchema, checkPolicy);
  return result.ok ? { ok: true, policy: result.value } : result;
}

/**
 * Reads and validates a policy file. Throws DomicileError('POLICY_INVALID') whose message is
 * the formatted problems (one `file:line:column path: message` per line) and whose
 * `details.problems` holds them, for a file that is missing, unreadable or invalid.
 */
export async function loadPolicyFile(path: string): Promise<Policy> {
  const read = await readYamlText(path, policyKind);
  const result = read.ok ? parsePolicy(read.text, path) : read;
  if (!result.ok) {
    throw new DomicileError('POLICY_INVALID', formatProblems(result.problems), {
      details: { problems: result.problems },
    });
  }
  return result.policy;
}
