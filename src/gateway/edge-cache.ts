import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';

/** The largest response a stream delivers that the cache reads whole to keep (a hashed script or style). */
const maxStoredBytes = 4 * 1024 * 1024;

/** What the edge cache holds of one response. */
interface CachedResponse {
  body: string | Buffer;
  contentType: string | undefined;
  etag: string | undefined;
  cacheControl: string;
  storedAt: number;
  maxAgeMs: number;
}

export interface EdgeCacheStats {
  entries: number;
  hits: number;
  misses: number;
  stores: number;
  /** Responses it declined to store because they are private (personal data) or say no-store. */
  refused: number;
}

/** Whether a Cache-Control value lets a shared cache store the response, and for how long. */
export function sharedMaxAgeMs(cacheControl: string): number | undefined {
  const directives = cacheControl
    .toLowerCase()
    .split(',')
    .map((d) => d.trim());
  if (directives.some((d) => d === 'private' || d === 'no-store' || d === 'no-cache') || !directives.includes('public'))
    return undefined;
  const age = directives.map((d) => /^(?:s-maxage|max-age)=(\d+)$/.exec(d)?.[1]).find((v) => v !== undefined);
  return age === undefined || Number(age) <= 0 ? undefined : Number(age) * 1000;
}

/** Whether an If-None-Match header names this ETag (strong, weak, or `*`). */
export function etagMatches(header: string | undefined, etag: string | undefined): boolean {
  if (!header || !etag) return false;
  return header.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*');
}

/**
 * The gateway's edge cache, as a CDN in front of it would be: it stores only GET responses
 * that say `Cache-Control: public` with a max-age, to requests that carry no credential, and
 * serves them (with `Age`, and 304 to a matching If-None-Match) until they are stale. Anything
 * else passes through. Every route that may answer with personal data says `private, no-store`
 * (the gateway's default), and the cache refuses to store it.
 */
export function registerEdgeCache(
  app: FastifyInstance,
  options: { capacity?: number } = {},
): { stats: () => EdgeCacheStats } {
  const cache = new LRUCache<string, CachedResponse>({ max: options.capacity ?? 10_000 });
  const counts = { hits: 0, misses: 0, stores: 0, refused: 0 };
  const cacheable = (request: FastifyRequest) =>
    (request.method === 'GET' || request.method === 'HEAD') && request.headers.authorization === undefined;

  app.addHook('onRequest', (request, reply, done) => {
    if (!cacheable(request)) return done();
    const hit = cache.get(request.url);
    if (!hit) return done();
    const age = Date.now() - hit.storedAt;
    if (age >= hit.maxAgeMs) {
      cache.delete(request.url);
      return done();
    }
    counts.hits += 1;
    void reply
      .header('cache-control', hit.cacheControl)
      .header('age', String(Math.floor(age / 1000)))
      .header('x-cache', 'HIT');
    if (hit.etag) void reply.header('etag', hit.etag);
    if (etagMatches(request.headers['if-none-match'], hit.etag)) {
      void reply.code(304).send();
      return;
    }
    if (hit.contentType) void reply.header('content-type', hit.contentType);
    void reply.code(200).send(hit.body);
  });

  // After the gateway's own onSend (which makes private, no-store the default).
  app.addHook(
    'onSend',
    (
      request: FastifyRequest,
      reply: FastifyReply,
      payload: unknown,
      done: (err: Error | null, payload: unknown) => void,
    ) => {
      // Stored from GETs only: a HEAD's payload is not what a GET would send.
      if (request.method !== 'GET' || !cacheable(request) || reply.getHeader('x-cache') === 'HIT')
        return done(null, payload);
      const cacheControl = String(reply.getHeader('cache-control') ?? '');
      const maxAgeMs = sharedMaxAgeMs(cacheControl);
      if (maxAgeMs === undefined) {
        counts.refused += 1;
        return done(null, payload);
      }
      if (reply.statusCode !== 200 || reply.getHeader('set-cookie') !== undefined) return done(null, payload);
      const store = (body: string | Buffer): void => {
        counts.misses += 1;
        counts.stores += 1;
        const etag = reply.getHeader('etag');
        const contentType = reply.getHeader('content-type');
        cache.set(request.url, {
          body,
          cacheControl,
          maxAgeMs,
          storedAt: Date.now(),
          etag: typeof etag === 'string' ? etag : undefined,
          contentType: typeof contentType === 'string' ? contentType : undefined,
        });
        void reply.header('x-cache', 'MISS');
      };
      if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
        store(payload);
        return done(null, payload);
      }
      // A file (the dashboard's hashed assets) comes as a stream: read whole, as a CDN would, if it is small enough to keep.
      const length = Number(reply.getHeader('content-length'));
      if (!(payload instanceof Readable) || !(length > 0 && length <= maxStoredBytes)) return done(null, payload);
      const chunks: Buffer[] = [];
      let finished = false;
      const finish = (err: Error | null, body?: Buffer): void => {
        if (finished) return;
        finished = true;
        done(err, body);
      };
      payload.on('data', (c: Buffer) => chunks.push(c));
      payload.once('error', (err: Error) => finish(err));
      payload.once('close', () => finish(new Error('the file closed before it was read whole')));
      payload.once('end', () => {
        const body = Buffer.concat(chunks);
        // A file that changed while it was read: sent as it came, with its own length, and not kept.
        if (body.length === length) store(body);
        else void reply.header('content-length', String(body.length));
        finish(null, body);
      });
    },
  );

  return { stats: () => ({ entries: cache.size, ...counts }) };
}
