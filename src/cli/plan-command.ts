import { resolve } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import { formatPlan } from './format-migration.js';
import { openOperatorApi, type OperatorAccess } from './operator-api.js';

export interface PlanOptions {
  from?: string | undefined;
  to?: string | undefined;
  services?: string[] | undefined;
  json: boolean;
}

/**
 * `domicile plan [--from A.yaml] [--to B.yaml]`: what would move, per service and market.
 * With neither, from where the directory homes users now to the policy in force; with --to,
 * to that policy; with both, the difference of the two policies' homes. The files are read
 * and checked here (problems name their line), then sent to the running platform if any.
 */
export async function runPlan(access: OperatorAccess, options: PlanOptions): Promise<number> {
  if (options.from !== undefined && options.to === undefined) {
    throw new DomicileError('BAD_REQUEST', '--from needs --to: give the policy to compare it with, for example --from examples/phase2.yaml --to examples/phase3.yaml');
  }
  const from = options.from === undefined ? undefined : await loadPolicyFile(resolve(options.from));
  const to = options.to === undefined ? undefined : await loadPolicyFile(resolve(options.to));
  // Nothing running: open the data folder under the policy the plan moves away from.
  const api = await openOperatorApi({ ...access, policy: access.policy ?? options.from });
  try {
    const plan = await api.plan({ from, to, services: options.services });
    process.stdout.write(options.json ? `${JSON.stringify(plan)}\n` : formatPlan(plan));
    return 0;
  } finally {
    await api.close();
  }
}
