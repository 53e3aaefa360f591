import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../platform/platform.js';
import type { AuthThrottle } from './auth-throttle.js';
import type { UserClaims, UserTokens } from './user-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: UserClaims;
  }
}

/** What every route plugin of the gateway shares. */
export interface GatewayContext {
  platform: Platform;
  tokens: UserTokens;
  /** Limits on logins and registrations per identifier and per client address. */
  throttle: AuthThrottle;
  /** onRequest hook: authenticates the user's token and session, sets request.user. */
  requireUser: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** onRequest hook: the operator credential. */
  requireOperator: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}
