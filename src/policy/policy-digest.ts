import { createHash } from 'node:crypto';
import type { Policy } from './policy-schema.js';

/**
 * SHA-256 (hex) of a policy as loaded (defaults filled in, members in the schema's order): the
 * same file gives the same digest, and any change to what it says gives another. The audit
 * log records it whenever a region starts under a policy it has not run before.
 */
export function policyDigest(policy: Policy): string {
  return createHash('sha256')
    .update(JSON.stringify(['domicile/policy/v1', policy]))
    .digest('hex');
}
