import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomicileError } from '../../errors/domicile-error.js';
import { routeToHome } from '../../platform/route-to-home.js';
import { findCategory, requireService } from '../../policy/placement.js';
import type { Policy } from '../../policy/policy-schema.js';
import { hasParts } from '../../services/cloud/photo-sync.js';
import { platformDeleteRefusal, platformWriteRefusal } from '../../services/platform-written.js';
import type { GatewayContext } from '../gateway-context.js';
import { collectionParams, errorBody, recordParams, recordReply, writeReply } from '../http-schemas.js';

function checkCollection(policy: Policy, service: string, collection: string): void {
  const svc = requireService(policy, service);
  if (!findCategory(policy, service, collection)) {
    throw new DomicileError(
      'NOT_FOUND',
      `service ${service} has no collection "${collection}"; use one of: ${svc.categories.map((c) => c.id).join(', ')}`,
    );
  }
}

/** Records in a page of a listing by default, and at most: an answer's size is bounded whatever a user holds. */
export const defaultListLimit = 50;
export const maxListLimit = 500;

/** `If-Match: "3"` (or `3`) asks for optimistic concurrency; `"0"` means "must not exist yet". */
function ifVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^"?(\d{1,15})"?$/.exec(header.trim());
  if (!match?.[1])
    throw new DomicileError(
      'BAD_REQUEST',
      'If-Match must be a record version, for example "3" ("0": the record must not exist yet)',
    );
  return Number(match[1]);
}

/** The generic records API of every service, served by the user's home region for that service. */
export function recordRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const security = [{ bearer: [] }];
  return async (app) => {
    app.put(
      '/v1/me/:service/:collection/:key',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['records'],
          summary: 'Write a record (any JSON value); If-Match for optimistic concurrency',
          security,
          params: recordParams,
          body: z.unknown(),
          headers: z.object({ 'if-match': z.string().optional() }).passthrough(),
          response: {
            200: writeReply,
            400: errorBody,
            401: errorBody,
            403: errorBody,
            404: errorBody,
            409: errorBody,
            413: errorBody,
          },
        },
      },
      async (request) => {
        const { service, collection, key } = request.params;
        checkCollection(platform.policy, service, collection);
        const refusal = platformWriteRefusal(service, collection, key);
        if (refusal) throw new DomicileError('FORBIDDEN', refusal);
        if (request.body === undefined)
          throw new DomicileError('BAD_REQUEST', 'send the record as a JSON body with Content-Type: application/json');
        const expected = ifVersion(request.headers['if-match']);
        const result = await routeToHome(platform, request.user.userId, service, (client, ref) =>
          client.putRecord({
            ...ref,
            collection,
            key,
            value: request.body,
            ...(expected === undefined ? {} : { ifVersion: expected }),
          }),
        );
        return { collection, key, ...result };
      },
    );

    app.get(
      '/v1/me/:service/:collection/:key',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['records'],
          summary: 'Read a record',
          security,
          params: recordParams,
          response: { 200: recordReply, 401: errorBody, 404: errorBody },
        },
      },
      async (request) => {
        const { service, collection, key } = request.params;
        checkCollection(platform.policy, service, collection);
        const record = await routeToHome(platform, request.user.userId, service, (client, ref) =>
          client.getRecord({ ...ref, collection, key }),
        );
        if (!record) throw new DomicileError('NOT_FOUND', `no record ${collection}/${key} in ${service}`);
        return record;
      },
    );

    app.get(
      '/v1/me/:service/:collection',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['records'],
          security,
          summary: `List the records of a collection, a page at a time (${defaultListLimit} by default, at most ${maxListLimit}); a photo's chunks are never listed (download its content)`,
          params: collectionParams,
          querystring: z
            .object({
              limit: z
                .string()
                .regex(/^[1-9][0-9]{0,3}$/, `limit is a whole number of records from 1 to ${maxListLimit}`)
                .transform(Number)
                .refine((n) => n <= maxListLimit, `limit is at most ${maxListLimit}`)
                .optional(),
              cursor: z
                .string()
                .min(1)
                .max(2048)
                .optional()
                .describe('the next cursor of the previous page; none for the first page'),
            })
            .strict(),
          response: {
            200: z.strictObject({
              records: z.array(recordReply),
              next: z.string().nullable().describe('the cursor of the next page; null after the last'),
            }),
            400: errorBody,
            401: errorBody,
            404: errorBody,
          },
        },
      },
      async (request) => {
        const { service, collection } = request.params;
        checkCollection(platform.policy, service, collection);
        const { limit = defaultListLimit, cursor } = request.query;
        const page = await routeToHome(platform, request.user.userId, service, (client, ref) =>
          client.listRecordPage({
            ...ref,
            collection,
            limit,
            ...(cursor === undefined ? {} : { cursor }),
            withoutParts: hasParts(service, collection),
          }),
        );
        return { records: page.records, next: page.cursor };
      },
    );

    app.delete(
      '/v1/me/:service/:collection/:key',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['records'],
          summary: 'Delete a record',
          security,
          params: recordParams,
          headers: z.object({ 'if-match': z.string().optional() }).passthrough(),
          response: { 204: z.null(), 401: errorBody, 403: errorBody, 404: errorBody, 409: errorBody },
        },
      },
      async (request, reply) => {
        const { service, collection, key } = request.params;
        checkCollection(platform.policy, service, collection);
        const refusal = platformDeleteRefusal(service, collection, key);
        if (refusal) throw new DomicileError('FORBIDDEN', refusal);
        const expected = ifVersion(request.headers['if-match']);
        const { deleted } = await routeToHome(platform, request.user.userId, service, (client, ref) =>
          client.deleteRecord({ ...ref, collection, key, ...(expected === undefined ? {} : { ifVersion: expected }) }),
        );
        if (!deleted) throw new DomicileError('NOT_FOUND', `no record ${collection}/${key} in ${service}`);
        return reply.code(204).send(null);
      },
    );
  };
}
