import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { residencyReport } from '../../platform/residency-report.js';
import { whereUser } from '../../platform/where-user.js';
import { errorBody } from '../http-schemas.js';
import type { GatewayContext } from '../gateway-context.js';

/** The operator API that the CLI steers a running platform through. */
export function opsRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const security = [{ operator: [] }];
  return async (app) => {
    app.addHook('onRequest', ctx.requireOperator);

    app.get('/v1/ops/residency', {
      schema: { tags: ['operator'], summary: 'Placement per market × region × service, and every violation', security, response: { 200: z.looseObject({}), 401: errorBody } },
    }, async () => residencyReport(platform));

    app.get('/v1/ops/users/:userId', {
      schema: {
        tags: ['operator'], summary: 'Which regions hold what of a user', security,
        params: z.object({ userId: z.string().regex(/^u_[A-Za-z0-9_-]{1,64}$/, 'a user id looks like u_…') }),
        response: { 200: z.looseObject({}), 401: errorBody, 404: errorBody },
      },
    }, async (request) => whereUser(platform, request.params.userId));

    app.get('/v1/ops/policy', {
      schema: { tags: ['operator'], summary: 'The policy in force', security, response: { 200: z.looseObject({}), 401: errorBody } },
    }, async () => platform.policy);
  };
}
