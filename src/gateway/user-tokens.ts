import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { DomicileError } from '../errors/domicile-error.js';

const issuer = 'domicile';

export interface UserClaims {
  userId: string;
  sessionId: string;
}

/**
 * Signs and verifies user tokens (JWT, HS256, via fast-jwt). A token names its session
 * (device); whether that session is still active is checked per request by the caller, not
 * here.
 *
 * fast-jwt verifies with node:crypto's HMAC, synchronously: WebCrypto's asynchronous HMAC (as
 * jose uses) cost about 80 µs a token, a quarter of a flash-sale claim, where every buyer comes
 * with a token not seen before. No cache of verified tokens: fast-jwt's hashes each token for
 * its key, which costs more than verifying it (21 µs against 9 µs a token, measured here).
 */
export class UserTokens {
  private readonly sign: (payload: Record<string, unknown>) => string;
  private readonly check: (token: string) => Record<string, unknown>;

  constructor(secret: string, ttlSeconds: number) {
    const key = Buffer.from(secret, 'base64url');
    this.sign = createSigner({ key, algorithm: 'HS256', iss: issuer, expiresIn: ttlSeconds * 1000 });
    this.check = createVerifier({
      key,
      algorithms: ['HS256'],
      allowedIss: issuer,
      requiredClaims: ['exp', 'sub', 'sid', 'iss'],
    });
  }

  issue(claims: UserClaims): Promise<string> {
    return Promise.resolve(this.sign({ sub: claims.userId, sid: claims.sessionId }));
  }

  verify(token: string): Promise<UserClaims> {
    let payload: Record<string, unknown>;
    try {
      payload = this.check(token);
    } catch (err) {
      if (err instanceof TokenError && err.code === TokenError.codes.expired) {
        return Promise.reject(
          new DomicileError('UNAUTHENTICATED', 'the token has expired: log in again with POST /v1/sessions', {
            cause: err,
          }),
        );
      }
      return Promise.reject(
        new DomicileError('UNAUTHENTICATED', 'the token is not valid: log in again with POST /v1/sessions', {
          cause: err,
        }),
      );
    }
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
      return Promise.reject(
        new DomicileError('UNAUTHENTICATED', 'the token names no user or session: log in again with POST /v1/sessions'),
      );
    }
    return Promise.resolve({ userId: payload.sub, sessionId: payload.sid });
  }
}
