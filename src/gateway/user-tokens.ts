import { webcrypto } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { DomicileError } from '../errors/domicile-error.js';
import { LruCache } from '../shared/lru-cache.js';

const issuer = 'domicile';

export interface UserClaims {
  userId: string;
  sessionId: string;
}

interface Verified extends UserClaims {
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

/**
 * Signs and verifies user tokens (JWT, HS256, via jose). A token names its session (device);
 * whether that session is still active is checked per request by the caller, not here.
 *
 * A token is immutable, so a verified one is remembered (bounded LRU, keyed by the whole
 * token string) and only its expiry is checked again: HMAC verification through WebCrypto
 * was the largest cost of an authenticated read. A forged or altered token is a different
 * string, never in the cache, and goes through jose.
 */
export class UserTokens {
  private readonly key: Promise<webcrypto.CryptoKey>;
  private readonly verified = new LruCache<string, Verified>(50_000);

  constructor(secret: string, private readonly ttlSeconds: number) {
    this.key = webcrypto.subtle.importKey('raw', Buffer.from(secret, 'base64url'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  }

  async issue(claims: UserClaims): Promise<string> {
    return new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(issuer)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.ttlSeconds)
      .sign(await this.key);
  }

  async verify(token: string): Promise<UserClaims> {
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.exp > Date.now() / 1000) return { userId: cached.userId, sessionId: cached.sessionId };
      this.verified.delete(token);
      throw new DomicileError('UNAUTHENTICATED', 'the token has expired: log in again with POST /v1/sessions');
    }
    try {
      const { payload } = await jwtVerify(token, await this.key, { issuer, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') {
        throw new DomicileError('UNAUTHENTICATED', 'the token names no user or session: log in again with POST /v1/sessions');
      }
      this.verified.set(token, { userId: payload.sub, sessionId: payload.sid, exp: payload.exp });
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
