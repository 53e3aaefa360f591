import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  listDevices,
  login,
  loginIndex,
  registerAccount,
  revokeDevice,
} from '../../services/account/account-service.js';
import type { GatewayContext } from '../gateway-context.js';
import { deviceReply, errorBody, loginBody, meReply, registerBody, tokenReply } from '../http-schemas.js';

/** Mi Account over HTTP: register, log in, who am I, devices and their revocation. */
export function accountRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform, tokens, throttle } = ctx;
  return async (app) => {
    app.post(
      '/v1/accounts',
      {
        schema: {
          tags: ['account'],
          summary: 'Register with a phone or e-mail, a password and a market',
          body: registerBody,
          response: { 201: tokenReply, 400: errorBody, 409: errorBody, 429: errorBody },
        },
      },
      async (request, reply) => {
        const { userId, sessionId } = await throttle.guard(async () => {
          throttle.registration(request.ip);
          return registerAccount(platform, request.body);
        });
        const token = await tokens.issue({ userId, sessionId });
        return reply.code(201).send({ userId, token, sessionId });
      },
    );

    app.post(
      '/v1/sessions',
      {
        schema: {
          tags: ['account'],
          summary: 'Log in with a phone or an e-mail (not both); each session is a device',
          body: loginBody,
          response: { 200: tokenReply, 400: errorBody, 401: errorBody, 429: errorBody },
        },
      },
      async (request) => {
        const index = loginIndex(platform, request.body.phone, request.body.email);
        const { userId, sessionId } = await throttle.guardLogin(request.ip, index, () => login(platform, request.body));
        return { userId, sessionId, token: await tokens.issue({ userId, sessionId }) };
      },
    );

    app.get(
      '/v1/me',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['account'],
          summary: "The user's id, market and home region per service",
          security: [{ bearer: [] }],
          response: { 200: meReply, 401: errorBody },
        },
      },
      async (request) => {
        const { userId } = request.user;
        const user = await platform.directory.getUser(userId);
        const homes = await platform.directory.homes(userId);
        return {
          userId,
          market: user?.market ?? '',
          homes: Object.fromEntries(homes.map((h) => [h.service, { region: h.region, epoch: h.epoch }])),
        };
      },
    );

    app.get(
      '/v1/me/devices',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['account'],
          summary: 'Devices (sessions) of the account',
          security: [{ bearer: [] }],
          response: { 200: z.strictObject({ devices: z.array(deviceReply) }), 401: errorBody },
        },
      },
      async (request) => {
        const devices = await listDevices(platform, request.user.userId);
        return { devices: devices.map((d) => ({ ...d, current: d.sessionId === request.user.sessionId })) };
      },
    );

    app.delete(
      '/v1/me/devices/:sessionId',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags: ['account'],
          summary:
            "Revoke a device: every token of that session stops working at once (a stolen handset's sessions end)",
          security: [{ bearer: [] }],
          params: z.object({ sessionId: z.string().regex(/^s_[A-Za-z0-9_-]{1,64}$/, 'a session id looks like s_…') }),
          response: { 204: z.null(), 401: errorBody, 404: errorBody },
        },
      },
      async (request, reply) => {
        await revokeDevice(platform, request.user.userId, request.params.sessionId);
        return reply.code(204).send(null);
      },
    );
  };
}
