import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';
import { dsarExport, dsarRequest } from '../operator-schemas.js';

/**
 * Data subject requests for the user themself: an export of everything held on them across
 * services and regions, and erasure everywhere. Neither response may be cached by anything.
 */
export function dsarRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const security = [{ bearer: [] }];
  return async (app) => {
    app.get(
      '/v1/me/export',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['data subject requests'],
          summary: 'Everything held on me, decrypted, with where each part rests',
          security,
          response: { 200: dsarExport, 401: errorBody },
        },
      },
      async (request) => platform.dsar.export(request.user.userId, 'user'),
    );

    app.delete(
      '/v1/me',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['data subject requests'],
          summary: 'Erase me: my data and keys in every region, and my account; the audit entries stay',
          security,
          response: { 202: dsarRequest, 401: errorBody },
        },
      },
      async (request, reply) => reply.code(202).send(await platform.dsar.erase(request.user.userId, 'user')),
    );
  };
}
