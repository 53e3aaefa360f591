import type { FastifyInstance } from 'fastify';

export interface Reply {
  status: number;
  json: unknown;
}

/** One HTTP exchange with the gateway; throws when the outcome is unknown (no answer came). */
export type Send = (
  method: 'GET' | 'PUT' | 'DELETE' | 'POST',
  path: string,
  token?: string,
  body?: unknown,
) => Promise<Reply>;

export function injectSender(app: () => FastifyInstance): Send {
  return async (method, path, token, body) => {
    const res = await app().inject({
      method,
      url: path,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, json: res.body ? (JSON.parse(res.body) as unknown) : null };
  };
}

/** Sends to whatever URL `url()` gives now (a restarted server listens elsewhere); throws while there is none. */
export function fetchSender(url: () => string | undefined): Send {
  return async (method, path, token, body) => {
    const base = url();
    if (base === undefined) throw new Error('the server is down');
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
  };
}
