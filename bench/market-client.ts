import { Agent, request as httpRequest } from 'node:http';
import { clientMarketHeader } from '../src/gateway/wan-hooks.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

/**
 * One connection of a synthetic client in a market: every request over it goes on one kept-alive
 * socket (a phone's connection to one host), so the WAN emulation charges the handshakes to the
 * first request only. Each request names the market in x-domicile-client-market.
 */
export class MarketConnection {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly baseUrl: string,
    readonly market: string,
  ) {}

  send(
    method: string,
    path: string,
    options: { token?: string | undefined; json?: unknown; bytes?: Buffer; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const body = options.bytes ?? (options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json)));
    const headers: Record<string, string> = {
      [clientMarketHeader]: this.market,
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(body
        ? {
            'content-type': options.bytes ? 'application/octet-stream' : 'application/json',
            'content-length': String(body.length),
          }
        : {}),
      ...options.headers,
    };
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = httpRequest(new URL(path, this.baseUrl), { method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: performance.now() - started,
          }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
