import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { syncRecords } from '../../services/cloud/record-sync.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';
import { requireService } from '../../policy/placement.js';

/** Incremental sync of a user's records of a service by change token (Mi Cloud's contacts, for one). */
export function syncRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  return async (app) => {
    app.get('/v1/me/sync/:service', {
      onRequest: ctx.requireUser,
      schema: {
        tags: ['cloud'], security: [{ bearer: [] }],
        summary: 'What changed in my records of a service since a token (none: everything, reset); answers the next token',
        params: z.object({ service: z.string().min(1).max(64) }),
        querystring: z.object({
          since: z.string().min(1).max(512).optional().describe('the token of the last sync; none for a full snapshot'),
          limit: z.coerce.number().int().min(1).max(2_000).default(500).describe('change-log entries, or a snapshot\'s records, read at most (more: ask again)'),
        }).strict(),
        response: { 200: z.looseObject({}), 400: errorBody, 401: errorBody, 404: errorBody },
      },
    }, async (request) => {
      const { service } = request.params;
      requireService(platform.policy, service);
      return { ...(await syncRecords(platform, request.user.userId, service, request.query.since, request.query.limit)) };
    });
  };
}
