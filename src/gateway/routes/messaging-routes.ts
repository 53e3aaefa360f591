import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  discoverContacts,
  discoveryParameters,
  maxDiscoveryHashes,
} from '../../services/messaging/contact-discovery.js';
import { listMessages, markRead, sendMessage } from '../../services/messaging/messages.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';

const messageView = z.strictObject({
  id: z.string(),
  box: z.enum(['inbox', 'outbox']),
  with: z.string().describe("the other party's user id"),
  text: z.string(),
  sentAt: z.number(),
  deliveredAt: z.number().nullable(),
  readAt: z.number().nullable(),
});
/** How a phone hashes its contacts for discovery. */
const discoveryReply = z.strictObject({
  algorithm: z.literal('HMAC-SHA256'),
  key: z.string(),
  message: z.string().describe('what is hashed: this prefix, a NUL byte, then the number in E.164'),
  encoding: z.literal('base64url'),
  purpose: z.string().nullable().describe('the consent purpose discovery needs; null: none'),
}) satisfies z.ZodType<ReturnType<typeof discoveryParameters>>;
const sentView = messageView.extend({
  crossBorder: z
    .strictObject({ from: z.string(), to: z.string() })
    .nullable()
    .describe('the regions it crossed between, audited in both'),
});

/** Cloud Messaging and contact discovery, for the user (personal: private, no-store, as every /v1/me answer). */
export function messagingRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const tags = ['messaging'];
  const security = [{ bearer: [] }];
  return async (app) => {
    app.post(
      '/v1/me/messages',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary:
            "Send a message to a user (by user id, or by phone number through the blind index: like contact discovery, that needs the contact-discovery consent and counts against its daily allowance); it rests in the recipient's home region",
          body: z
            .object({
              to: z
                .object({ userId: z.string().min(1).max(64).optional(), phone: z.string().min(3).max(32).optional() })
                .strict(),
              text: z.string().min(1).max(4_000),
            })
            .strict(),
          response: { 201: sentView, 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 429: errorBody },
        },
      },
      async (request, reply) =>
        reply.code(201).send(await sendMessage(platform, request.user.userId, request.body.to, request.body.text)),
    );

    app.get(
      '/v1/me/messages',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: 'The inbox (default) or the outbox, oldest first, with delivery and read times',
          querystring: z.object({ box: z.enum(['inbox', 'outbox']).default('inbox') }).strict(),
          response: { 200: z.strictObject({ messages: z.array(messageView) }), 400: errorBody, 401: errorBody },
        },
      },
      async (request) => ({ messages: await listMessages(platform, request.user.userId, request.query.box) }),
    );

    app.post(
      '/v1/me/messages/:id/read',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: "Mark a message of the inbox read; a read receipt goes to the sender's copy",
          params: z.object({ id: z.string().regex(/^msg_[A-Za-z0-9_-]{1,64}$/, 'a message id, msg_…') }),
          response: { 200: messageView, 400: errorBody, 401: errorBody, 404: errorBody },
        },
      },
      async (request) => markRead(platform, request.user.userId, request.params.id),
    );

    app.get(
      '/v1/me/contact-discovery',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: 'How the phone hashes its contacts for discovery (the key, the message, the purpose it needs)',
          response: { 200: discoveryReply, 401: errorBody },
        },
      },
      async () => discoveryParameters(platform),
    );

    app.post(
      '/v1/me/contact-discovery',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary:
            'Which of my contacts use the service: keyed hashes of their numbers in, matching user ids out; nothing kept. Needs the contact-discovery consent; at most 20,000 numbers a day (429 beyond)',
          body: z
            .object({
              hashes: z
                .array(
                  z
                    .string()
                    .regex(
                      /^[A-Za-z0-9_-]{43}$/,
                      'an HMAC-SHA256 in base64url (43 characters): see GET /v1/me/contact-discovery',
                    ),
                )
                .min(1)
                .max(maxDiscoveryHashes),
            })
            .strict(),
          response: {
            200: z.strictObject({ matches: z.array(z.strictObject({ hash: z.string(), userId: z.string() })) }),
            400: errorBody,
            401: errorBody,
            403: errorBody,
            404: errorBody,
            429: errorBody,
          },
        },
      },
      async (request) => ({ matches: await discoverContacts(platform, request.user.userId, request.body.hashes) }),
    );
  };
}
