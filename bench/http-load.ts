import autocannon from 'autocannon';

export interface LoadRequest {
  method: 'GET' | 'PUT' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
  /** Answers per HTTP status. */
  statuses: Record<string, number>;
}

/**
 * Drives a server with autocannon for `seconds`, cycling through `requests` (each
 * connection takes the next one), and returns the rate and latency percentiles.
 */
export async function runLoad(
  url: string,
  requests: LoadRequest[],
  options: {
    seconds: number;
    connections: number /** Requests per second over all connections (default: as fast as answered). */;
    rate?: number;
  },
): Promise<LoadResult> {
  let next = 0;
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate === undefined ? {} : { overallRate: options.rate }),
    requests: [
      {
        setupRequest: (req) => {
          const r = requests[next++ % requests.length]!;
          return {
            ...req,
            method: r.method,
            path: r.path,
            headers: { ...req.headers, ...r.headers },
            ...(r.body === undefined ? {} : { body: r.body }),
          };
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    statuses: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([status, s]) => [status, s.count ?? 0]),
    ),
  };
}

/** Several runs of equal length as one: mean rate, the worst run's percentiles, summed counts. */
export function combine(runs: LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => runs.reduce((a, r) => a + f(r), 0);
  return {
    requestsPerSecond: sum((r) => r.requestsPerSecond) / runs.length,
    p50Ms: Math.max(...runs.map((r) => r.p50Ms)),
    p99Ms: Math.max(...runs.map((r) => r.p99Ms)),
    requests: sum((r) => r.requests),
    errors: sum((r) => r.errors),
    non2xx: sum((r) => r.non2xx),
    statuses: runs.reduce<Record<string, number>>((acc, r) => {
      for (const [status, n] of Object.entries(r.statuses)) acc[status] = (acc[status] ?? 0) + n;
      return acc;
    }, {}),
  };
}
