import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { DomicileError } from '../errors/domicile-error.js';
import { newRequestId, sendHttpError } from '../shared/http-error-reply.js';
import { asDomicileError } from './in-process-region-client.js';
import { regionMethods } from './region-client.js';
import type { RegionNode } from './region-node.js';
import type { NodeTls } from './region-tls.js';

export interface RegionServerOptions {
  /** The node this server exposes; closing the server closes it. */
  node: RegionNode;
  /** The shared secret callers present as `Authorization: Bearer <nodeToken>`. */
  nodeToken: string;
  /** Largest request body, in bytes (default 4 MiB: a 1 MiB value, escaped, fits). */
  bodyLimit?: number;
  /** Fastify's logger (default off). Bodies are never logged: they hold personal data. */
  logger?: boolean;
  /** Serve HTTPS with this certificate, and with a client CA accept only callers it signed (region-tls.ts); default plain HTTP. */
  tls?: NodeTls | undefined;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function buildRegionServer(options: RegionServerOptions): FastifyInstance {
  const { node } = options;
  if (options.nodeToken.length < 16) {
    throw new DomicileError(
      'BAD_REQUEST',
      'a node token has at least 16 characters: use the generated secrets/node.token',
    );
  }
  // Digests compare in constant time whatever the presented token's length.
  const expected = digest(options.nodeToken);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 4 * 1024 * 1024,
    // Longer than undici's 4 s idle timeout, so the client, not the server, closes idle
    // sockets and a request is never sent on a socket the server is closing.
    keepAliveTimeout: 72_000,
    genReqId: newRequestId,
    frameworkErrors: (err, request, reply) => void sendHttpError(request, reply, err),
    // With a client CA, a caller without a certificate it signed is refused in the handshake,
    // before any request (the node token is checked as well, on every request).
    ...(options.tls ? { https: options.tls } : {}),
  }) as FastifyInstance;

  // The gateway's one error mapping: the same codes, statuses, request ids and nothing internal.
  const unexpected = (err: unknown): DomicileError => asDomicileError(err, node.regionId);
  app.setErrorHandler((err, request, reply) => sendHttpError(request, reply, err, unexpected));
  app.setNotFoundHandler((request, reply) =>
    sendHttpError(
      request,
      reply,
      new DomicileError(
        'NOT_FOUND',
        `no such region endpoint: ${request.method} ${request.url.split('?')[0]}; methods are POST /region/v1/{${regionMethods.join(',')}}`,
      ),
    ),
  );
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });

  app.get('/healthz', async () => ({ status: 'ok', regionId: node.regionId }));

  app.register(
    async (region) => {
      region.addHook('onRequest', async (request) => {
        const header = request.headers.authorization;
        // The scheme's name is case-insensitive (RFC 9110, 11.1).
        const token = typeof header === 'string' && /^bearer /i.test(header) ? header.slice(7) : undefined;
        if (token === undefined || !timingSafeEqual(digest(token), expected)) {
          throw new DomicileError(
            'UNAUTHENTICATED',
            `region ${node.regionId} needs "Authorization: Bearer <node token>" with this deployment's node token`,
          );
        }
      });
      // One POST per method of the contract, its argument the body as it came: the node checks
      // every field itself (parseRegionInput), so both clients refuse the same things alike.
      const methods = node as unknown as Record<string, (req: unknown) => Promise<unknown>>;
      for (const name of regionMethods) {
        region.post(`/${name}`, async (request) => ({
          result: (await methods[name]!.call(node, request.body ?? {})) ?? null,
        }));
      }
    },
    { prefix: '/region/v1' },
  );

  app.addHook('onClose', async () => {
    await node.close();
  });
  return app;
}
