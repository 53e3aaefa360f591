import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  type ConsentLedger,
  currentNotice,
  decisions,
  findPurpose,
  grantsNow,
  servicesNeeding,
} from '../../consent/consent-ledger.js';
import { DomicileError } from '../../errors/domicile-error.js';
import { readLedger } from '../../platform/read-ledger.js';
import { routeToHome } from '../../platform/route-to-home.js';
import type { Policy } from '../../policy/policy-schema.js';
import type { GatewayContext } from '../gateway-context.js';
import { consentRecord, errorBody, noticeRef } from '../http-schemas.js';

const consentView = z.strictObject({
  purpose: z.string(),
  description: z.string(),
  notice: noticeRef.nullable().describe('the notice a grant must answer now'),
  granted: z.boolean(),
  history: z.array(consentRecord),
});
const decisionBody = z
  .object({
    decision: z.enum(decisions),
    noticeVersion: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('The version of the notice the user was shown; required to grant a purpose that has one.'),
    method: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes, for example in-app-dialog')
      .optional(),
  })
  .strict();

function purposeOf(policy: Policy, id: string): NonNullable<ReturnType<typeof findPurpose>> {
  const purpose = findPurpose(policy, id);
  if (!purpose || servicesNeeding(policy, id).length === 0) {
    throw new DomicileError(
      'NOT_FOUND',
      `no consent purpose "${id}" in policy "${policy.name}"; use one of: ${policy.purposes.map((p) => p.id).join(', ')}`,
    );
  }
  return purpose;
}

function view(policy: Policy, purposeId: string, ledger: ConsentLedger): z.infer<typeof consentView> {
  const purpose = purposeOf(policy, purposeId);
  return {
    purpose: purpose.id,
    description: purpose.description,
    notice: currentNotice(purpose),
    granted: grantsNow(ledger, purpose),
    history: ledger.history,
  };
}

/**
 * Consent, for the user: what each purpose of the policy asks, whether it is granted, and its
 * history; and a decision, recorded in the home region of every service whose categories need
 * the purpose (where it is enforced). Default deny: a purpose never answered is not granted.
 */
export function consentRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const security = [{ bearer: [] }];
  return async (app) => {
    app.get(
      '/v1/me/consents',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['consent'],
          summary: "The policy's consent purposes, whether each is granted, and the history of decisions",
          security,
          response: { 200: z.strictObject({ consents: z.array(consentView) }), 401: errorBody },
        },
      },
      async (request) => {
        const consents = [];
        for (const p of platform.policy.purposes) {
          if (servicesNeeding(platform.policy, p.id).length === 0) continue;
          consents.push(view(platform.policy, p.id, await readLedger(platform, request.user.userId, p.id)));
        }
        return { consents };
      },
    );

    app.put(
      '/v1/me/consents/:purpose',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['consent'],
          summary:
            'Grant, deny or withdraw consent to a purpose; anything but a grant deletes its data and shreds its keys at once',
          security,
          params: z.object({ purpose: z.string().min(1).max(63) }),
          body: decisionBody,
          response: { 200: consentView, 400: errorBody, 401: errorBody, 404: errorBody, 409: errorBody },
        },
      },
      async (request) => {
        const { purpose } = request.params;
        purposeOf(platform.policy, purpose);
        const { decision, noticeVersion, method } = request.body;
        let ledger: ConsentLedger | undefined;
        for (const service of servicesNeeding(platform.policy, purpose)) {
          ledger = await routeToHome(platform, request.user.userId, service, (client, ref) =>
            client.recordConsent({
              ...ref,
              purpose,
              decision,
              ...(noticeVersion === undefined ? {} : { noticeVersion }),
              method: method ?? 'api',
              source: `session:${request.user.sessionId}`,
            }),
          );
        }
        return view(platform.policy, purpose, ledger!);
      },
    );
  };
}
