import { Agent, request } from 'node:https';
import { DomicileError, errorFromJSON } from '../errors/domicile-error.js';
import { type RegionApi, type RegionClient, type RegionMethod, regionMethods } from './region-client.js';
import type { CallerTls } from './region-tls.js';

export interface HttpRegionClientOptions {
  regionId: string;
  /** Where the region's node listens, e.g. http://127.0.0.1:7101. */
  baseUrl: string;
  nodeToken: string;
  /** How long a call waits for an answer before UNAVAILABLE (default 10 s). */
  timeoutMs?: number;
  /** For an https:// node: the CA that signed its certificate, and this caller's own certificate (region-tls.ts). */
  tls?: CallerTls | undefined;
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
 * An https:// node is reached through node:https instead (kept-alive sockets too): Node's
 * fetch takes no CA or client certificate of its own without the undici package's Agent.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface above
export class HttpRegionClient implements RegionClient {
  readonly regionId: string;
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  /** Sockets to an https:// node, verified against the given CA (or the system's); none for http://. */
  private readonly agent: Agent | undefined;

  constructor(options: HttpRegionClientOptions) {
    this.regionId = options.regionId;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.authorization = `Bearer ${options.nodeToken}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.agent = this.baseUrl.startsWith('https:') ? new Agent({ keepAlive: true, ...options.tls }) : undefined;
    const methods = this as unknown as Record<RegionMethod, (req?: unknown) => Promise<unknown>>;
    for (const method of regionMethods) methods[method] = (req) => this.post(method, req ?? {});
  }

  /** The region runs on; fetch's idle pooled sockets close by themselves, the https agent's here. */
  async close(): Promise<void> {
    this.agent?.destroy();
  }

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
    let response: { status: number; ok: boolean };
    try {
      if (this.agent) ({ response, text } = await this.postHttps(this.agent, url, payload));
      else {
        const answer = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: this.authorization },
          body: payload,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        response = answer;
        text = await answer.text();
      }
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

  /** One POST over node:https, failing as fetch does (a TimeoutError, or an Error whose cause is the socket's or TLS's). */
  private postHttps(
    agent: Agent,
    url: string,
    payload: string,
  ): Promise<{ response: { status: number; ok: boolean }; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          authorization: this.authorization,
        },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new Error('the answer broke off', { cause: err })));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          resolve({ response: { status, ok: status >= 200 && status < 300 }, text: Buffer.concat(chunks).toString() });
        });
      });
      req.on('error', (err) => reject(err.name === 'AbortError' ? err : new Error('request failed', { cause: err })));
      req.end(payload);
    });
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
