import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireService } from '../../policy/placement.js';
import { type SyncPage, syncRecords } from '../../services/cloud/record-sync.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';

const syncPage = z.strictObject({
  reset: z
    .boolean()
    .describe(
      'true: forget what you hold of this service; these changes, with those of the pages that follow while more, are the whole of it',
    ),
  changes: z.array(
    z.strictObject({
      collection: z.string(),
      key: z.string(),
      op: z.enum(['put', 'delete']),
      version: z.number().describe('the version now (of a delete: the last one it had)'),
      value: z.unknown().optional(),
      unreadable: z.string().optional().describe('why value is null: the record cannot be read back'),
    }),
  ),
  token: z.string().describe('ask again with this token'),
  more: z.boolean().describe('there is more to read now'),
}) satisfies z.ZodType<SyncPage>;

/** Incremental sync of a user's records of a service by change token (Mi Cloud's contacts, for one). */
export function syncRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  return async (app) => {
    app.get(
      '/v1/me/sync/:service',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['cloud'],
          security: [{ bearer: [] }],
          summary:
            'What changed in my records of a service since a token (none: everything, reset); answers the next token',
          params: z.object({ service: z.string().min(1).max(64) }),
          querystring: z
            .object({
              since: z
                .string()
                .min(1)
                .max(512)
                .optional()
                .describe('the token of the last sync; none for a full snapshot'),
              limit: z.coerce
                .number()
                .int()
                .min(1)
                .max(2_000)
                .default(500)
                .describe("change-log entries, or a snapshot's records, read at most (more: ask again)"),
            })
            .strict(),
          response: { 200: syncPage, 400: errorBody, 401: errorBody, 404: errorBody },
        },
      },
      async (request) => {
        const { service } = request.params;
        requireService(platform.policy, service);
        return syncRecords(platform, request.user.userId, service, request.query.since, request.query.limit);
      },
    );
  };
}
