import type { Refer } from './check-declarations.js';
import { checkDeclarations } from './check-declarations.js';
import { checkPlacement } from './check-placement.js';
import type { PolicyFinding } from './policy-problem.js';
import { formatPath } from './policy-problem.js';
import type { Policy } from './policy-schema.js';

/**
 * Every check a policy must pass beyond its shape, on an already parsed policy: the loader
 * runs it on files, and code that builds or edits a policy (tests, a migration's target)
 * can run it too. An empty result means the policy can place every declared market.
 */
export function checkPolicy(policy: Policy, refer: Refer = formatPath): PolicyFinding[] {
  return [...checkDeclarations(policy, refer), ...checkPlacement(policy, refer)];
}
