import { DomicileError, errorFromJSON } from '../errors/domicile-error.js';
import { type RegionApi, type RegionClient, type RegionMethod, regionMethods } from './region-client.js';

export interface HttpRegionClientOptions {
  regionId: string;
  /** Where the region's node listens, e.g. http://127.0.0.1:7101. */
  baseUrl: string;
  nodeToken: string;
  /** How long a call waits for an answer before UNAVAILABLE (default 10 s). */
  timeoutMs?: number;
}

// The contract's methods: the constructor makes each a POST of its argument, from the method list.
export interface HttpRegionClient extends RegionApi {}

/**
 * A RegionClient that reaches a region running as its own process (`domicile region`): one
 * POST /region/v1/<method> per call, the argument as its JSON body.
 * Node's fetch (undici) keeps connections alive and reuses them, so a call costs one
 * round trip on a warm socket. Errors come back as the node sent them (same codes, messages
 * and details as the in-process client); a region that cannot be reached is UNAVAILABLE,
 * naming the region and its URL.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface above
export class HttpRegionClient implements RegionClient {
  readonly regionId: string;
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;

  constructor(options: HttpRegionClientOptions) {
    this.regionId = options.regionId;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.authorization = `Bearer ${options.nodeToken}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const methods = this as unknown as Record<RegionMethod, (req?: unknown) => Promise<unknown>>;
    for (const method of regionMethods) methods[method] = (req) => this.post(method, req ?? {});
  }

  /** Nothing to release: the region runs on, and idle pooled sockets close by themselves. */
  async close(): Promise<void> {}

  private async post<T>(method: RegionMethod, body: unknown): Promise<T> {
    const url = `${this.baseUrl}/region/v1/${method}`;
    let payload: string;
    try {
      payload = JSON.stringify(body);
    } catch (err) {
      throw new DomicileError('BAD_REQUEST', `a record value must be JSON: ${(err as Error).message}`, {
        cause: err,
        details: { field: 'value' },
      });
    }
    let text: string;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: this.authorization },
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw this.unreachable(url, err);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw this.unavailable(
        new Error(
          `region ${this.regionId} at ${this.baseUrl} answered ${method} with HTTP ${response.status} and a body that is not JSON (is it a Domicile region node?): ${(err as Error).message}`,
          { cause: err },
        ),
      );
    }
    if (!response.ok)
      throw errorFromJSON(parsed, `region ${this.regionId} answered ${method} with HTTP ${response.status}`);
    return ((parsed as { result?: unknown } | null)?.result ?? null) as T;
  }

  private unreachable(url: string, err: unknown): DomicileError {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const reason = timedOut
      ? `did not answer within ${this.timeoutMs} ms`
      : `cannot be reached (${typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error).message})`;
    return this.unavailable(new Error(`region ${this.regionId} at ${url} ${reason}`, { cause: err }));
  }

  /**
   * What a caller (and through the gateway, a public client) is told: the region and what to
   * do. The node's address and the socket's error are internal: they ride in the cause, which
   * the error's log line carries (see sendHttpError) and no answer does.
   */
  private unavailable(internal: Error): DomicileError {
    return new DomicileError(
      'UNAVAILABLE',
      `region ${this.regionId} cannot be reached just now: try again in a few seconds; if it lasts, the operator finds the cause in the gateway's log`,
      {
        cause: internal,
        details: { region: this.regionId, retryAfterSeconds: 5 },
      },
    );
  }
}
