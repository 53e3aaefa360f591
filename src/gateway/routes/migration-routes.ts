import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomicileError } from '../../errors/domicile-error.js';
import type { MigrationEngine } from '../../migrate/migration-engine.js';
import type { MigrationStatus } from '../../migrate/migration-status.js';
import { settingLimits } from '../../migrate/migration-types.js';
import { checkPolicy } from '../../policy/check-policy.js';
import { type Policy, policySchema } from '../../policy/policy-schema.js';
import { checkPolicySize } from '../../policy/policy-size.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';
import { migrationPlan, migrationStatus as status, transferRecord } from '../migration-schemas.js';

const batchSize = z
  .number()
  .int()
  .min(settingLimits.batchSize.min)
  .max(settingLimits.batchSize.max)
  .describe('Users per batch: a batch is copied, verified and cut over together');
const rate = z
  .number()
  .int()
  .min(settingLimits.rate.min)
  .max(settingLimits.rate.max)
  .describe('Rows per second the copy may import; 0 for no cap');
const services = z
  .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a service id, for example shop'))
  .min(1)
  .describe('Services to move, in order (default: shop, account, messaging, cloud)');
const migrationId = z.object({
  id: z
    .string()
    .regex(/^(current|m_[A-Za-z0-9_-]{1,32})$/, 'a migration id looks like m_…, or "current" for the latest'),
});

/** A policy sent as JSON (the CLI reads and checks the YAML, the server checks it again). */
function policyFrom(value: unknown, field: 'from' | 'to'): Policy {
  checkPolicySize(value, `the "${field}" policy`);
  const parsed = policySchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new DomicileError(
      'POLICY_INVALID',
      `the "${field}" policy is not valid: ${issues.join('; ')}; check it with \`domicile policy check FILE\``,
    );
  }
  const findings = checkPolicy(parsed.data);
  if (findings.length > 0) {
    const more = findings.length > 5 ? `; and ${findings.length - 5} more problems` : '';
    throw new DomicileError(
      'POLICY_INVALID',
      `the "${field}" policy is not valid: ${findings
        .slice(0, 5)
        .map((f) => f.message)
        .join('; ')}${more}; check it with \`domicile policy check FILE\``,
    );
  }
  return parsed.data;
}

/**
 * Steering live migrations, for the CLI (`domicile plan`, `domicile migrate …`) and the
 * dashboard: plan, start, status, pause, resume, roll back, complete, and the settings (batch
 * size, rate cap) that may change while a migration runs. The engine runs in this process.
 */
export function migrationRoutes(ctx: GatewayContext, engine: MigrationEngine | undefined): FastifyPluginAsyncZod {
  const security = [{ operator: [] }];
  const tags = ['migrations'];
  const need = (): MigrationEngine => {
    if (!engine)
      throw new DomicileError(
        'UNAVAILABLE',
        'this gateway runs no migration coordinator: steer migrations through `domicile up`',
      );
    return engine;
  };
  /** Only the latest migration can be steered; `current` names it. */
  const steer = async (
    id: string,
    action: (e: MigrationEngine) => Promise<MigrationStatus>,
  ): Promise<MigrationStatus> => {
    const e = need();
    const latest = await e.status();
    if (!latest)
      throw new DomicileError(
        'NOT_FOUND',
        'no migration has been started: plan one with `domicile plan`, start it with `domicile migrate start`',
      );
    if (id !== 'current' && id !== latest.id)
      throw new DomicileError(
        'CONFLICT',
        `migration ${id} is not the latest (${latest.id}): only the latest migration can be steered`,
      );
    return action(e);
  };
  return async (app) => {
    app.addHook('onRequest', ctx.requireOperator);

    app.post(
      '/v1/ops/plans',
      {
        schema: {
          tags,
          security,
          summary: 'What would move: per service and market, users, records and bytes, source → destination',
          body: z
            .object({ from: z.unknown().optional(), to: z.unknown().optional(), services: services.optional() })
            .strict(),
          response: {
            200: migrationPlan,
            400: errorBody,
            401: errorBody,
            403: errorBody,
            413: errorBody,
            422: errorBody,
            503: errorBody,
          },
        },
      },
      async (request) => {
        const { from, to } = request.body;
        if (from !== undefined && to === undefined)
          throw new DomicileError('BAD_REQUEST', 'a plan --from a policy needs --to the policy to compare it with');
        return need().plan({
          services: request.body.services,
          from: from === undefined ? undefined : policyFrom(from, 'from'),
          to: to === undefined ? undefined : policyFrom(to, 'to'),
        });
      },
    );

    app.post(
      '/v1/ops/migrations',
      {
        schema: {
          tags,
          security,
          summary: 'Start a migration to the policy in force',
          body: z
            .object({ services: services.optional(), batchSize: batchSize.optional(), rate: rate.optional() })
            .strict(),
          response: { 201: status, 400: errorBody, 401: errorBody, 403: errorBody, 409: errorBody, 503: errorBody },
        },
      },
      async (request, reply) => reply.code(201).send(await need().start(request.body)),
    );

    app.get(
      '/v1/ops/migrations/:id',
      {
        schema: {
          tags,
          security,
          summary: 'A migration\'s state and progress ("current": the latest)',
          params: migrationId,
          response: { 200: status, 401: errorBody, 404: errorBody, 503: errorBody },
        },
      },
      async (request) => {
        const found = await need().status(request.params.id);
        if (!found)
          throw new DomicileError(
            'NOT_FOUND',
            request.params.id === 'current'
              ? 'no migration has been started: start one with `domicile migrate start`'
              : `no migration ${request.params.id}`,
          );
        return found;
      },
    );

    const actions = {
      pause: (e: MigrationEngine) => e.pause(),
      resume: (e: MigrationEngine) => e.resume(),
      rollback: (e: MigrationEngine) => e.rollback(),
      complete: (e: MigrationEngine) => e.complete(),
    };
    for (const [name, action] of Object.entries(actions)) {
      app.post(
        `/v1/ops/migrations/:id/${name}`,
        {
          schema: {
            tags,
            security,
            summary: `${name[0]!.toUpperCase()}${name.slice(1)} the migration`,
            params: migrationId,
            response: { 200: status, 401: errorBody, 404: errorBody, 409: errorBody, 503: errorBody },
          },
        },
        async (request) => steer(request.params.id, action),
      );
    }

    app.patch(
      '/v1/ops/migrations/:id/settings',
      {
        schema: {
          tags,
          security,
          summary: 'Change the batch size or the rate cap while the migration runs',
          params: migrationId,
          body: z.object({ batchSize: batchSize.optional(), rate: rate.optional() }).strict(),
          response: { 200: status, 400: errorBody, 401: errorBody, 404: errorBody, 409: errorBody, 503: errorBody },
        },
      },
      async (request) => steer(request.params.id, (e) => e.updateSettings(request.body)),
    );

    app.get(
      '/v1/ops/transfers',
      {
        schema: {
          tags,
          security,
          summary: 'Completed transfers: users, service, from, to, policy version, counts, digests',
          response: { 200: z.strictObject({ transfers: z.array(transferRecord) }), 401: errorBody, 503: errorBody },
        },
      },
      async () => ({ transfers: await need().transfers() }),
    );
  };
}
