import type { Figure } from './bench-output.js';
import { combine, type LoadRequest, type LoadResult, runLoad } from './http-load.js';

export interface LoginFloodOptions {
  /** Concurrent wrong-password logins, each looping as soon as it is answered (the 60). */
  logins: number;
  /** Authenticated reads per second, offered at a fixed rate so that p99 is latency, not a queue the load itself builds. */
  readRate: number;
  readConnections: number;
  seconds: number;
  /** Photo downloads (GET …/content) to time beside the reads, at `downloadRate` a second; the issue saw one take 11.7 s under the flood. */
  downloads?: LoadRequest[] | undefined;
  downloadRate?: number | undefined;
  log: (line: string) => void;
}

export interface LoginFloodReport {
  logins: number;
  readRate: number;
  /** Authenticated reads alone. */
  quiet: LoadResult;
  /** The same reads while the flood runs. */
  flooded: LoadResult;
  /** The flood's own answers: 401 a checked password, 503 refused at once past the hashing queue, 429 a throttle. */
  flood: LoadResult;
  /** flooded.p99Ms / quiet.p99Ms; the goal is at most 2. */
  p99Ratio: number;
  /** Photo downloads alone and under the flood, when the bench timed them. */
  downloads?: { quiet: LoadResult; flooded: LoadResult; p99Ratio: number } | undefined;
  figures: Figure[];
}

/**
 * Latency of authenticated reads with and without a flood of wrong-password logins (issue 14,
 * item 7), against a gateway whose per-address and per-identifier limits are lifted, as they
 * would be for an attacker with many addresses: what stands is the bound on password hashing.
 * Quiet and flooded runs alternate in rounds, so a neighbour's load on a shared machine falls
 * on both.
 */
export async function loginFlood(
  url: string,
  reads: LoadRequest[],
  loginEmails: string[],
  options: LoginFloodOptions,
): Promise<LoginFloodReport> {
  const json = { 'content-type': 'application/json' };
  const attempts: LoadRequest[] = Array.from({ length: 200 }, (_, i) => ({
    method: 'POST',
    path: '/v1/sessions',
    headers: json,
    // Registered and unknown logins alike: both cost a password check.
    body: JSON.stringify({
      email: i % 2 === 0 ? loginEmails[i % loginEmails.length] : `nobody-${i}@example.com`,
      password: `wrong-password-${i}`,
    }),
  }));
  const readLoad = { seconds: 0, connections: options.readConnections, rate: options.readRate };
  const rounds = 3;
  const seconds = Math.max(2, options.seconds / rounds);
  const quietRuns: LoadResult[] = [];
  const floodedRuns: LoadResult[] = [];
  const floodRuns: LoadResult[] = [];
  const quietDownloads: LoadResult[] = [];
  const floodedDownloads: LoadResult[] = [];
  const { downloads } = options;
  /** The reads, and the downloads beside them when there are any. */
  const measure = async (readRuns: LoadResult[], downloadRuns: LoadResult[]) => {
    const [r, d] = await Promise.all([
      runLoad(url, reads, { ...readLoad, seconds }),
      downloads ? runLoad(url, downloads, { seconds, connections: 2, rate: options.downloadRate ?? 10 }) : undefined,
    ]);
    readRuns.push(r);
    if (d) downloadRuns.push(d);
  };
  for (let round = 1; round <= rounds; round++) {
    options.log(
      `login flood, round ${round}/${rounds}: authenticated reads at ${options.readRate}/s${downloads ? ' and photo downloads' : ''} alone, then beside ${options.logins} looping wrong-password logins…`,
    );
    await measure(quietRuns, quietDownloads);
    // The flood starts first and outlasts the reads, so every read meets it.
    const flood = runLoad(url, attempts, { seconds: seconds + 2, connections: options.logins });
    await new Promise((r) => setTimeout(r, 1000));
    await measure(floodedRuns, floodedDownloads);
    floodRuns.push(await flood);
  }
  const quiet = combine(quietRuns);
  const flooded = combine(floodedRuns);
  const flood = combine(floodRuns);
  const downloadReport = downloads
    ? { quiet: combine(quietDownloads), flooded: combine(floodedDownloads), p99Ratio: 0 }
    : undefined;
  if (downloadReport) downloadReport.p99Ratio = downloadReport.flooded.p99Ms / downloadReport.quiet.p99Ms;
  const checked: Array<[string, LoadResult]> = [
    ['quiet reads', quiet],
    ['flooded reads', flooded],
  ];
  if (downloadReport)
    checked.push(['quiet downloads', downloadReport.quiet], ['flooded downloads', downloadReport.flooded]);
  for (const [name, r] of checked) {
    if (r.errors > 0 || r.non2xx > 0)
      throw new Error(
        `the ${name} had ${r.errors} errors and ${r.non2xx} non-2xx answers: the figures would not be honest`,
      );
  }
  const p99Ratio = flooded.p99Ms / quiet.p99Ms;
  const figures: Figure[] = [
    { name: 'authenticated read p99, quiet', value: quiet.p99Ms, unit: 'ms' },
    {
      name: `authenticated read p99 under ${options.logins} concurrent wrong-password logins`,
      value: flooded.p99Ms,
      unit: 'ms',
      baseline: { name: 'quiet', value: quiet.p99Ms },
      goal: { atMost: 2, text: 'goal ≤ 2×' },
    },
    ...(downloadReport
      ? [
          { name: 'photo download p99, quiet', value: downloadReport.quiet.p99Ms, unit: 'ms' },
          {
            name: `photo download p99 under ${options.logins} concurrent wrong-password logins`,
            value: downloadReport.flooded.p99Ms,
            unit: 'ms',
            baseline: { name: 'quiet', value: downloadReport.quiet.p99Ms },
          },
        ]
      : []),
    { name: 'login flood: attempts answered', value: flood.requestsPerSecond, unit: 'req/s' },
    {
      name: 'login flood: passwords checked (401)',
      value: (flood.statuses['401'] ?? 0) / (rounds * (seconds + 2)),
      unit: 'req/s',
    },
  ];
  return {
    logins: options.logins,
    readRate: options.readRate,
    quiet,
    flooded,
    flood,
    p99Ratio,
    downloads: downloadReport,
    figures,
  };
}
