import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBody } from '../http-schemas.js';
import type { GatewayContext } from '../gateway-context.js';

const requestStatus = z.object({
  id: z.string(), userId: z.string(), kind: z.enum(['export', 'erase']), state: z.enum(['pending', 'completed', 'failed']),
  source: z.string(), createdAt: z.number(), updatedAt: z.number(), regionsDone: z.array(z.string()), error: z.string().nullable(),
});

/**
 * Data subject requests for the user themself: an export of everything held on them across
 * services and regions, and erasure everywhere. Neither response may be cached by anything.
 */
export function dsarRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const security = [{ bearer: [] }];
  return async (app) => {
    app.get('/v1/me/export', {
      onRequest: ctx.requireUser,
      schema: { tags: ['data subject requests'], summary: 'Everything held on me, decrypted, with where each part rests', security, response: { 200: z.looseObject({}), 401: errorBody } },
    }, async (request) => ({ ...(await platform.dsar.export(request.user.userId, 'user')) }));

    app.delete('/v1/me', {
      onRequest: ctx.requireUser,
      schema: {
        tags: ['data subject requests'], summary: 'Erase me: my data and keys in every region, and my account; the audit entries stay', security,
        response: { 202: requestStatus, 401: errorBody },
      },
    }, async (request, reply) => reply.code(202).send(await platform.dsar.erase(request.user.userId, 'user')));
  };
}
