import { readFile } from 'node:fs/promises';
import { formatProblems, parsePolicy } from '../policy/load-policy.js';
import { problemCount } from '../policy/policy-problem.js';

/** `domicile policy check FILE`: exit 1 on any problem, each naming file, line and the fix. */
export async function runPolicyCheck(file: string, json: boolean): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    const problems = [
      {
        file,
        line: 1,
        column: 1,
        path: '',
        message: `cannot read the policy (${reason}): give the path of a YAML policy, for example examples/phase3.yaml`,
      },
    ];
    process.stdout.write(json ? `${JSON.stringify({ ok: false, problems })}\n` : `${formatProblems(problems)}\n`);
    return 1;
  }
  const result = parsePolicy(text, file);
  if (json) {
    process.stdout.write(
      `${JSON.stringify(result.ok ? { ok: true, name: result.policy.name, version: result.policy.version } : { ok: false, problems: result.problems })}\n`,
    );
  } else if (result.ok) {
    const p = result.policy;
    process.stdout.write(
      `${file}: policy "${p.name}" version ${p.version} is valid (${p.regions.length} regions, ${p.markets.length} markets, ${p.services.length} services, ${p.placement.length} placement rules)\n`,
    );
  } else {
    process.stdout.write(
      `${formatProblems(result.problems)}\n${problemCount(result.problems)} problem(s) in ${file}\n`,
    );
  }
  return result.ok ? 0 : 1;
}
