import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { DomicileError } from '../errors/domicile-error.js';
import type { MigrationEngine } from '../migrate/migration-engine.js';
import type { Platform } from '../platform/platform.js';
import { photoChunkSize } from '../services/cloud/photo-sync.js';
import { newRequestId, sendHttpError } from '../shared/http-error-reply.js';
import { jsonTextDepth, maxJsonDepth } from '../shared/json-depth.js';
import type { WanEmulator } from '../wan/wan-emulator.js';
import { AuthThrottle, type AuthThrottleOptions } from './auth-throttle.js';
import { authenticateOperator, authenticateUser } from './authenticate.js';
import { registerEdgeCache } from './edge-cache.js';
import type { GatewayContext } from './gateway-context.js';
import { errorBody } from './http-schemas.js';
import { edgeCacheStats, healthReply } from './operator-schemas.js';
import { enforceReplySchemas } from './reply-serializer.js';
import { accountRoutes } from './routes/account-routes.js';
import { consentRoutes } from './routes/consent-routes.js';
import { dashboardRoutes } from './routes/dashboard-routes.js';
import { dsarRoutes } from './routes/dsar-routes.js';
import { messagingRoutes } from './routes/messaging-routes.js';
import { migrationRoutes } from './routes/migration-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { photoRoutes } from './routes/photo-routes.js';
import { recordRoutes } from './routes/record-routes.js';
import { shopRoutes } from './routes/shop-routes.js';
import { syncRoutes } from './routes/sync-routes.js';
import { checkTrustedProxies } from './trusted-proxies.js';
import { UserTokens } from './user-tokens.js';
import { registerWanEmulation } from './wan-hooks.js';

export interface GatewayOptions {
  /** Lifetime of a user token (default 24 hours). */
  tokenTtlSeconds?: number;
  /** Largest request body in bytes (default 256 KiB). */
  bodyLimit?: number;
  /** Structured logs (default off; `domicile up` turns them on). They never carry personal data. */
  logger?: boolean;
  /** The migration coordinator the operator API steers (`domicile up` runs one); none: those routes answer UNAVAILABLE. */
  migrations?: MigrationEngine | undefined;
  /** The edge cache in front of the API (default true; off, every request reaches the origin, as before a CDN). */
  edgeCache?: boolean;
  /** The photo bytes each user may keep (default defaultPhotoQuotaBytes, 5 GiB); past it an upload is refused with QUOTA_EXCEEDED (413). */
  photoQuotaBytes?: number;
  /** WAN emulation: responses held back by the network time of their client's market (the platform must trace region calls). */
  wan?: WanEmulator | undefined;
  /** Limits on logins and registrations (see defaultAuthThrottle: 10 logins per identifier per 15 min, 30 per address per minute, 3 registrations per address per hour). */
  throttle?: Partial<AuthThrottleOptions> | undefined;
  /**
   * The proxies whose X-Forwarded-For is believed for the client address (Fastify's
   * trustProxy): addresses and CIDR ranges, e.g. ['10.0.0.0/8'] (default: none, the TCP peer
   * is the client). Behind a load balancer, without it every client is the balancer to the throttle.
   */
  trustProxy?: string[] | undefined;
}

/** The gateway's words for a body over its limit: which limits there are. */
function bodyTooLarge(err: unknown): unknown {
  return (err as { code?: unknown }).code === 'FST_ERR_CTP_BODY_TOO_LARGE'
    ? new DomicileError(
        'PAYLOAD_TOO_LARGE',
        `the request body is too large: records are at most 256 KiB, photo chunks ${photoChunkSize / 1024} KiB`,
        { cause: err },
      )
    : err;
}

/**
 * The gateway: the HTTP edge of Domicile. It authenticates, finds the user's home region in
 * the directory, and forwards to that region through its RegionClient.
 */
export async function buildGateway(platform: Platform, options: GatewayOptions = {}): Promise<FastifyInstance> {
  const logger: FastifyServerOptions['logger'] = options.logger
    ? {
        level: 'info',
        // Only the route pattern, never the URL (record keys) nor bodies nor headers.
        serializers: {
          req: (req: { method: string; routeOptions?: { url?: string }; id: string }) => ({
            method: req.method,
            route: req.routeOptions?.url,
            id: req.id,
          }),
          res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        },
      }
    : false;
  // Checked before anything is built: a bad option changes nothing.
  const throttle = new AuthThrottle(options.throttle);
  const app = Fastify({
    logger,
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? checkTrustedProxies(options.trustProxy) : false,
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    genReqId: newRequestId,
    // A record key has up to 128 characters, percent-encoded up to three times that; longer
    // parameters are refused by the routes' schemas, in the house's words.
    routerOptions: { maxParamLength: 512 },
    // Refusals before routing (a malformed URL) go through the same mapping as every other error.
    frameworkErrors: (err, request, reply) => void sendHttpError(request, reply, err),
  });
  app.setValidatorCompiler(validatorCompiler);
  // Bodies are JSON (photo chunks, in their plugin, raw bytes): a text/plain body is refused
  // with 415 rather than stored as a JSON string.
  app.removeContentTypeParser('text/plain');
  // JSON nests at most maxJsonDepth levels: a deeper value would be stored, then overflow the
  // stack of every listing, sync and export of its owner that serialises it. Measured on the
  // text, before parsing, without recursion.
  const parseJson = app.getDefaultJsonParser('error', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const depth = jsonTextDepth(text);
    if (depth > maxJsonDepth) {
      done(
        new DomicileError(
          'BAD_REQUEST',
          `the JSON body nests ${depth} levels deep; at most ${maxJsonDepth} levels of arrays and objects are allowed: flatten it`,
          { details: { limit: maxJsonDepth } },
        ),
        undefined,
      );
      return;
    }
    parseJson(request, text, done);
  });
  // Every answer is checked against its response schema, the one /docs shows (reply-serializer.ts).
  enforceReplySchemas(app);

  const tokens = new UserTokens(platform.secrets.jwtKey, options.tokenTtlSeconds ?? 24 * 3600);
  app.decorateRequest('user', undefined as never);
  const ctx: GatewayContext = {
    platform,
    tokens,
    throttle,
    requireUser: async (request) => {
      request.user = await authenticateUser(request, platform, tokens);
    },
    requireOperator: async (request) => {
      authenticateOperator(request, platform);
    },
  };

  // Anything the API answers may carry personal data unless a route says otherwise: no cache on
  // the way may store it. Callback style: an async hook costs a promise per request.
  // Nothing the API answers is to be sniffed into another type (a photo into a page).
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'private, no-store');
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
  if (options.wan) registerWanEmulation(app, options.wan);
  const edge = options.edgeCache === false ? undefined : registerEdgeCache(app);

  app.setErrorHandler((err, request, reply) => sendHttpError(request, reply, bodyTooLarge(err)));
  app.setNotFoundHandler((request, reply) =>
    sendHttpError(
      request,
      reply,
      new DomicileError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}: see /docs for the API`),
    ),
  );

  await app.register(swagger, {
    openapi: {
      info: { title: 'Domicile', description: 'Data residency platform: the user and operator API', version: '0.1.0' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          operator: { type: 'http', scheme: 'bearer', description: 'the operator credential' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness, and every region the gateway reaches',
        response: { 200: healthReply },
      },
    },
    async () => {
      const regions = await Promise.all(
        [...platform.regions.values()].map(async (client) => {
          try {
            const health = await client.health();
            return { region: client.regionId, ok: true, backend: health.backend };
          } catch {
            return { region: client.regionId, ok: false };
          }
        }),
      );
      return {
        ok: regions.every((r) => r.ok),
        policy: { name: platform.policy.name, version: platform.policy.version },
        regions,
      };
    },
  );

  await app.register(accountRoutes(ctx));
  await app.register(recordRoutes(ctx));
  await app.register(consentRoutes(ctx));
  await app.register(dsarRoutes(ctx));
  await app.register(dashboardRoutes(ctx, options.migrations));
  await app.register(opsRoutes(ctx, options.migrations));
  await app.register(migrationRoutes(ctx, options.migrations));
  await app.register(shopRoutes(ctx));
  await app.register(messagingRoutes(ctx));
  await app.register(syncRoutes(ctx));
  await app.register(photoRoutes(ctx, options.photoQuotaBytes));
  typed.get(
    '/v1/ops/edge-cache',
    {
      onRequest: ctx.requireOperator,
      schema: {
        tags: ['operator'],
        security: [{ operator: [] }],
        summary:
          'The edge cache: entries, hits, misses, stores, and responses it refused to store (private or no-store)',
        response: { 200: edgeCacheStats, 401: errorBody, 503: errorBody },
      },
    },
    async () => {
      if (!edge) throw new DomicileError('UNAVAILABLE', 'this gateway runs without its edge cache');
      return edge.stats();
    },
  );
  return app;
}
