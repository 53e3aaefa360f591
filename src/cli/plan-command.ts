import { resolve } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import { loadLatencyFile, missingFigures } from '../wan/load-latency.js';
import { defaultLatencyFile, resolvePolicyFile } from './cli-options.js';
import { forecastChange, formatForecast, type MarketForecast } from './format-forecast.js';
import { formatPlan } from './format-migration.js';
import { type OperatorAccess, openOperatorApi, readRuntime } from './operator-api.js';

export interface PlanOptions {
  from?: string | undefined;
  to?: string | undefined;
  services?: string[] | undefined;
  json: boolean;
  /** The latency file for the forecast of a policy change (default: examples/latency.yaml). */
  latency?: string | undefined;
}

/**
 * `domicile plan [--from A.yaml] [--to B.yaml]`: what would move, per service and market.
 * With neither, from where the directory homes users now to the policy in force; with --to,
 * to that policy; with both, the difference of the two policies' homes. A policy change (--to)
 * also gets its latency forecast per market (--latency, default examples/latency.yaml). The files are read
 * and checked here (problems name their line), then sent to the running platform if any.
 */
export async function runPlan(access: OperatorAccess, options: PlanOptions): Promise<number> {
  if (options.from !== undefined && options.to === undefined) {
    throw new DomicileError(
      'BAD_REQUEST',
      '--from needs --to: give the policy to compare it with, for example --from examples/phase2.yaml --to examples/phase3.yaml',
    );
  }
  const from = options.from === undefined ? undefined : await loadPolicyFile(resolve(options.from));
  const to = options.to === undefined ? undefined : await loadPolicyFile(resolve(options.to));
  const latencyFile = options.latency ?? defaultLatencyFile;
  // A policy change (--to) gets a latency forecast; its file is checked before anything else runs.
  const latency = to === undefined ? undefined : await loadLatencyFile(resolve(latencyFile));
  // Nothing running: open the data folder under the policy the plan moves away from.
  const api = await openOperatorApi({ ...access, policy: access.policy ?? options.from });
  try {
    const plan = await api.plan({ from, to, services: options.services });
    let forecast = '';
    let latencyForecast: MarketForecast[] | undefined;
    if (latency && to) {
      // Moved away from: --from, or the policy the platform runs (or would open) now.
      const running = readRuntime(resolve(access.data));
      const current = from ?? (await loadPolicyFile(running?.policyFile ?? resolvePolicyFile(access.policy)));
      // A policy the file does not cover still gets its plan, with what the forecast would need.
      const missing = [...new Set([...missingFigures(latency, current), ...missingFigures(latency, to)])];
      if (missing.length > 0) {
        forecast = `\nNo latency forecast: ${latencyFile} (${latency.name}) has no figure for ${missing.join('; ')}; add them with their sources, or give another file with --latency.\n`;
      } else {
        latencyForecast = forecastChange(latency, current, to);
        const covered = new Set(latencyForecast.map((f) => f.market));
        forecast = formatForecast(
          latencyForecast,
          latency,
          latencyFile,
          to.markets.map((m) => m.country).filter((m) => !covered.has(m)),
        );
      }
    }
    process.stdout.write(
      options.json
        ? `${JSON.stringify(latencyForecast ? { ...plan, latencyForecast } : plan)}\n`
        : `${formatPlan(plan)}${forecast}`,
    );
    return 0;
  } finally {
    await api.close();
  }
}
