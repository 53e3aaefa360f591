import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomicileError } from '../../errors/domicile-error.js';
import type { MigrationEngine } from '../../migrate/migration-engine.js';
import { openMoves } from '../../migrate/open-moves.js';
import { residencyReport as residencyReportOf } from '../../platform/residency-report.js';
import { whereUser } from '../../platform/where-user.js';
import { policySchema } from '../../policy/policy-schema.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';
import { auditPage, dsarExport, dsarRequest, residencyReport, whereReport } from '../operator-schemas.js';

/** The operator API that the CLI steers a running platform through. */
export function opsRoutes(ctx: GatewayContext, migrations?: MigrationEngine): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const security = [{ operator: [] }];
  return async (app) => {
    app.addHook('onRequest', ctx.requireOperator);

    app.get(
      '/v1/ops/residency',
      {
        schema: {
          tags: ['operator'],
          summary: 'Placement per market × region × service, and every violation',
          security,
          response: { 200: residencyReport, 401: errorBody },
        },
      },
      async () => residencyReportOf(platform, migrations ? await openMoves(migrations.store) : []),
    );

    app.get(
      '/v1/ops/users/:userId',
      {
        schema: {
          tags: ['operator'],
          summary: 'Which regions hold what of a user',
          security,
          params: z.object({ userId: z.string().regex(/^u_[A-Za-z0-9_-]{1,64}$/, 'a user id looks like u_…') }),
          response: { 200: whereReport, 401: errorBody, 404: errorBody },
        },
      },
      async (request) => whereUser(platform, request.params.userId),
    );

    app.get(
      '/v1/ops/audit',
      {
        schema: {
          tags: ['operator'],
          summary: 'The regions whose audit logs can be read',
          security,
          response: { 200: z.strictObject({ regions: z.array(z.string()) }), 401: errorBody },
        },
      },
      async () => ({ regions: [...platform.regions.keys()] }),
    );

    app.get(
      '/v1/ops/audit/:region',
      {
        schema: {
          tags: ['operator'],
          summary: "A page of a region's audit log: raw entries and the signed checkpoints over them, for a verifier",
          security,
          params: z.object({ region: z.string().min(1).max(63) }),
          querystring: z.object({
            afterSeq: z.coerce.number().int().min(0).default(0),
            limit: z.coerce.number().int().min(1).max(10_000).default(2_000),
          }),
          response: { 200: auditPage, 400: errorBody, 401: errorBody, 404: errorBody },
        },
      },
      async (request) => {
        const { region } = request.params;
        if (!platform.regions.has(region)) {
          throw new DomicileError(
            'NOT_FOUND',
            `no running region "${region}" under policy "${platform.policy.name}"; use one of: ${[...platform.regions.keys()].join(', ')}`,
          );
        }
        return platform.region(region).readAudit({ afterSeq: request.query.afterSeq, limit: request.query.limit });
      },
    );

    app.post(
      '/v1/ops/audit/:region/reports',
      {
        schema: {
          tags: ['operator'],
          summary:
            "Record in a region's audit log that a residency report with this hash was issued (for a residency proof)",
          security,
          params: z.object({ region: z.string().min(1).max(63) }),
          body: z
            .object({
              type: z.literal('residency-report'),
              hash: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lower-case hex'),
              violations: z.number().int().nonnegative(),
              policy: z.object({ name: z.string().min(1).max(2_000), version: z.number().int().positive() }).strict(),
            })
            .strict(),
          response: { 200: z.strictObject({ seq: z.number() }), 400: errorBody, 401: errorBody, 404: errorBody },
        },
      },
      async (request) => {
        const { region } = request.params;
        if (!platform.regions.has(region)) throw new DomicileError('NOT_FOUND', `no running region "${region}"`);
        const { seqs } = await platform
          .region(region)
          .recordEvents({ events: [{ id: `report:${request.body.hash}`, event: request.body }] });
        return { seq: seqs[0]! };
      },
    );

    app.post(
      '/v1/ops/dsar',
      {
        schema: {
          tags: ['operator'],
          summary:
            "A data subject request for a user: export (answers with the bundle) or erase (answers with the request's status)",
          security,
          body: z
            .object({
              userId: z.string().regex(/^u_[A-Za-z0-9_-]{1,64}$/, 'a user id looks like u_…'),
              kind: z.enum(['export', 'erase']),
            })
            .strict(),
          response: { 200: z.union([dsarExport, dsarRequest]), 400: errorBody, 401: errorBody, 404: errorBody },
        },
      },
      async (request) =>
        request.body.kind === 'export'
          ? platform.dsar.export(request.body.userId, 'operator')
          : platform.dsar.erase(request.body.userId, 'operator'),
    );

    app.get(
      '/v1/ops/dsar/:id',
      {
        schema: {
          tags: ['operator'],
          summary: "A data subject request's status",
          security,
          params: z.object({ id: z.string().min(1).max(64) }),
          response: { 200: dsarRequest, 401: errorBody, 404: errorBody },
        },
      },
      async (request) => platform.dsar.status(request.params.id),
    );

    app.get(
      '/v1/ops/policy',
      {
        schema: {
          tags: ['operator'],
          summary: 'The policy in force',
          security,
          response: { 200: policySchema, 401: errorBody },
        },
      },
      async () => platform.policy,
    );
  };
}
