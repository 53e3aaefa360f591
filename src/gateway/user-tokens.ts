import { createSecretKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { DomicileError } from '../errors/domicile-error.js';

const issuer = 'domicile';

export interface UserClaims {
  userId: string;
  sessionId: string;
}

/** Signs and verifies user tokens (JWT, HS256, via jose). A token names its session (device). */
export class UserTokens {
  private readonly key: KeyObject;

  constructor(secret: string, private readonly ttlSeconds: number) {
    this.key = createSecretKey(Buffer.from(secret, 'base64url'));
  }

  async issue(claims: UserClaims): Promise<string> {
    return new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(issuer)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.ttlSeconds)
      .sign(this.key);
  }

  async verify(token: string): Promise<UserClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
        throw new DomicileError('UNAUTHENTICATED', 'the token names no user or session: log in again with POST /v1/sessions');
      }
      return { userId: payload.sub, sessionId: payload.sid };
    } catch (err) {
      if (err instanceof DomicileError) throw err;
      if (err instanceof joseErrors.JWTExpired) {
        throw new DomicileError('UNAUTHENTICATED', 'the token has expired: log in again with POST /v1/sessions', { cause: err });
      }
      throw new DomicileError('UNAUTHENTICATED', 'the token is not valid: log in again with POST /v1/sessions', { cause: err });
    }
  }
}
