import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { DomicileError } from '../errors/domicile-error.js';
import type { Platform } from '../platform/platform.js';
import type { UserClaims, UserTokens } from './user-tokens.js';

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header)
    throw new DomicileError(
      'UNAUTHENTICATED',
      'send "Authorization: Bearer TOKEN"; get a token from POST /v1/accounts or POST /v1/sessions',
    );
  // The scheme's name is case-insensitive (RFC 9110, 11.1).
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header);
  if (!match?.[1]) throw new DomicileError('UNAUTHENTICATED', 'the Authorization header must be "Bearer TOKEN"');
  return match[1];
}

/** A user's token, and its session still active: a revoked device is refused at once. */
export async function authenticateUser(
  request: FastifyRequest,
  platform: Platform,
  tokens: UserTokens,
): Promise<UserClaims> {
  const claims = await tokens.verify(bearer(request));
  if (!(await platform.directory.isSessionActive(claims.userId, claims.sessionId))) {
    throw new DomicileError(
      'UNAUTHENTICATED',
      'this device was signed out or the account no longer exists: log in again with POST /v1/sessions',
    );
  }
  return claims;
}

/** The operator credential (never a user's token), compared in constant time. */
export function authenticateOperator(request: FastifyRequest, platform: Platform): void {
  const given = Buffer.from(bearer(request));
  const expected = Buffer.from(platform.secrets.operatorToken);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new DomicileError(
      'UNAUTHENTICATED',
      'this endpoint needs the operator credential (the file secrets/operator.token in the data folder)',
    );
  }
}
