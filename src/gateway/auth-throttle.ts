import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import { checkRateLimit, KeyedRateLimiter, type RateLimit } from '../shared/keyed-rate-limiter.js';
import { clientAddressKey } from './client-address-key.js';

/**
 * Limits on logins and registrations. Each gateway counts in its own memory: behind a load
 * balancer with several gateways, an attacker gets each limit once per gateway (a store shared
 * by the gateways is future work). The client address is the TCP peer's unless the gateway
 * is told which proxies to trust (`trustProxy`): a header alone is never believed. An IPv6
 * client is counted by its /64 (clientAddressKey).
 */
export interface AuthThrottleOptions {
  /**
   * Failed logins per login identifier (keyed by its blind index, never the phone or e-mail),
   * whatever the address; a right password is not counted. An address the identifier has
   * logged in from (within 30 days) has a count of its own at this rate instead, so that
   * guesses from elsewhere do not lock the owner out. Default 10 per 15 minutes.
   */
  loginsPerIdentifier: RateLimit;
  /** Login attempts per client address, across identifiers. Default 30 per minute. */
  loginsPerAddress: RateLimit;
  /** Account registrations per client address. Default 3 per hour. */
  registrationsPerAddress: RateLimit;
  /**
   * Identifiers or addresses remembered per limit, a memory bound (default 100,000, a few MB).
   * Only counts that have refilled are forgotten; with every one still spent, a new key is
   * refused (`<limit>-capacity`). Since a login's count is reserved only while its password is
   * hashed (about 20 a second per process) and given back unless it was wrong, filling it with
   * spent counts of random identifiers would take over 1,000 wrong passwords a second.
   */
  maxKeys: number;
  /**
   * How long a refused login or registration (429) is held before it is answered (default
   * 500 ms; 0 answers at once). A flood that loops on its answers otherwise turns each cheap
   * refusal into the next request, thousands a second, and takes the event loop from
   * everyone else; held, 60 looping clients send about 120 a second. The pause is bounded and
   * costs a timer, not a queue slot: the password hashing queue stays as short as it is.
   */
  refusalDelayMs: number;
}

export const defaultAuthThrottle: AuthThrottleOptions = {
  loginsPerIdentifier: { limit: 10, windowSeconds: 15 * 60 },
  loginsPerAddress: { limit: 30, windowSeconds: 60 },
  registrationsPerAddress: { limit: 3, windowSeconds: 3600 },
  maxKeys: 100_000,
  refusalDelayMs: 500,
};

type LimitName = 'logins-per-identifier' | 'logins-per-address' | 'registrations-per-address';

/** How long an address an identifier logged in from keeps a count of its own for that identifier. */
const knownAddressMs = 30 * 24 * 3600 * 1000;

const messages: Record<LimitName, string> = {
  'logins-per-identifier': 'too many login attempts for this phone or e-mail',
  'logins-per-address': 'too many login attempts from this address',
  'registrations-per-address': 'too many accounts registered from this address',
};

/** Checks the options (BAD_REQUEST naming the option) and fills in the defaults. */
export function checkAuthThrottle(options: Partial<AuthThrottleOptions> = {}): AuthThrottleOptions {
  const o = { ...defaultAuthThrottle, ...options };
  checkRateLimit(o.loginsPerIdentifier, 'loginsPerIdentifier');
  checkRateLimit(o.loginsPerAddress, 'loginsPerAddress');
  checkRateLimit(o.registrationsPerAddress, 'registrationsPerAddress');
  if (!Number.isInteger(o.maxKeys) || o.maxKeys < 1 || o.maxKeys > 100_000_000) {
    throw new DomicileError('BAD_REQUEST', `maxKeys is a whole number from 1 to 100000000, not ${String(o.maxKeys)}`);
  }
  if (!Number.isInteger(o.refusalDelayMs) || o.refusalDelayMs < 0 || o.refusalDelayMs > 10_000) {
    throw new DomicileError(
      'BAD_REQUEST',
      `refusalDelayMs is a whole number of milliseconds from 0 to 10000, not ${String(o.refusalDelayMs)}`,
    );
  }
  return o;
}

/** The gateway's throttle of logins and registrations: RATE_LIMITED (429, Retry-After) past a limit. */
export class AuthThrottle {
  private readonly limiters: Record<LimitName, KeyedRateLimiter>;
  /** Failed logins per (identifier, address) it logged in from: the owner's own count. */
  private readonly knownAddressLogins: KeyedRateLimiter;
  /** `identifier address` pairs that logged in, and until when they count as known. */
  private readonly knownAddresses: LRUCache<string, number>;
  private readonly refusalDelayMs: number;

  constructor(
    options: Partial<AuthThrottleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    const o = checkAuthThrottle(options);
    this.refusalDelayMs = o.refusalDelayMs;
    this.limiters = {
      'logins-per-identifier': new KeyedRateLimiter(o.loginsPerIdentifier, o.maxKeys, now, 'logins-per-identifier'),
      'logins-per-address': new KeyedRateLimiter(o.loginsPerAddress, o.maxKeys, now, 'logins-per-address'),
      'registrations-per-address': new KeyedRateLimiter(
        o.registrationsPerAddress,
        o.maxKeys,
        now,
        'registrations-per-address',
      ),
    };
    this.knownAddressLogins = new KeyedRateLimiter(o.loginsPerIdentifier, o.maxKeys, now, 'logins-per-identifier');
    // Forgetting a known address costs its owner only the shared count again, never a fresh burst.
    this.knownAddresses = new LRUCache({ max: o.maxKeys });
  }

  /**
   * Runs a login (`check`, which throws UNAUTHENTICATED for a wrong password) under the limits:
   * counts it against its address, and reserves one failure of its identifier's count (of this
   * address's own, where the identifier logged in from it before) before the password is
   * checked, so that concurrent guesses cannot all slip under the limit and a spent count
   * refuses before any hash. Only a wrong password keeps the reservation: a right one, or a
   * login refused before its password was judged (the hashing queue full, a region down), gives
   * it back. A right password also makes the address known for the identifier.
   */
  async guardLogin<T>(address: string, loginIndex: string, check: () => Promise<T>): Promise<T> {
    return this.guard(async () => {
      const addressKey = clientAddressKey(address);
      this.take('logins-per-address', this.limiters['logins-per-address'], addressKey);
      const pair = `${loginIndex} ${addressKey}`;
      const [limiter, key] = this.isKnown(pair)
        ? [this.knownAddressLogins, pair]
        : [this.limiters['logins-per-identifier'], loginIndex];
      this.take('logins-per-identifier', limiter, key);
      let result: T;
      try {
        result = await check();
      } catch (err) {
        if (!isDomicileError(err, 'UNAUTHENTICATED')) limiter.refund(key);
        throw err;
      }
      limiter.refund(key);
      this.knownAddresses.set(pair, this.now() + knownAddressMs);
      return result;
    });
  }

  private isKnown(pair: string): boolean {
    const until = this.knownAddresses.get(pair);
    return until !== undefined && until > this.now();
  }

  /** Runs a login or registration; a RATE_LIMITED refusal (a limit here, or the full hashing queue) is held refusalDelayMs first. */
  async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (this.refusalDelayMs > 0 && isDomicileError(err, 'RATE_LIMITED')) await sleep(this.refusalDelayMs);
      throw err;
    }
  }

  /** Before an account is created. */
  registration(address: string): void {
    this.take('registrations-per-address', this.limiters['registrations-per-address'], clientAddressKey(address));
  }

  private take(limit: LimitName, limiter: KeyedRateLimiter, key: string): void {
    const retryAfterSeconds = limiter.take(key);
    if (retryAfterSeconds > 0) {
      throw new DomicileError('RATE_LIMITED', `${messages[limit]}: try again in ${retryAfterSeconds} s`, {
        details: { limit, retryAfterSeconds },
      });
    }
  }
}
