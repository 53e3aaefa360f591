import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { DomicileError } from '../errors/domicile-error.js';
import { BoundedConcurrency, type BoundedConcurrencyOptions } from '../shared/bounded-concurrency.js';

/**
 * Password hashing with scrypt. The parameters travel in the hash string, so they can be
 * raised later without invalidating existing hashes:
 *
 *   scrypt$<log2 N>$<r>$<p>$<salt base64url>$<hash base64url>
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number;
  r: number;
  p: number;
}

/**
 * N = 2^15, r = 8 (32 MiB, about 0.1 s on a server core): OWASP's floor is N = 2^17, which
 * costs 0.4 s per login; this trades some of that for login throughput and stays far beyond
 * what a GPU farm breaks cheaply. Raise it here; old hashes keep verifying.
 */
export const defaultScryptParams: ScryptParams = { logN: 15, r: 8, p: 1 };

const saltBytes = 16;
const hashBytes = 32;
/** Longer passwords are refused: scrypt's cost must not be the attacker's to choose. */
export const maxPasswordLength = 1024;

/**
 * Password hashes in flight at once, per process (the gateway and the regions it runs share
 * it). Each scrypt holds 32 MiB and a libuv thread for about 0.1 s: unbounded, 60 concurrent
 * logins took every thread (file reads of photo downloads queued behind them) and every core.
 * The default leaves half the cores and most of libuv's 4 threads to the rest of the API; the
 * queue holds about a second and a half of work, and a login past it is refused at once
 * (429 with Retry-After) rather than made to wait.
 */
export const defaultPasswordChecks: BoundedConcurrencyOptions = {
  concurrency: Math.max(1, Math.min(2, Math.floor(availableParallelism() / 2))),
  maxQueue: 16,
};

/**
 * The process's bound on concurrent password hashing; `domicile up` configures it from its
 * flags. Past it: RATE_LIMITED (429, retry after a second), the flood's answer the client is
 * told to back off on, not a server fault to log.
 */
export const passwordChecks = new BoundedConcurrency(
  defaultPasswordChecks,
  'password checks',
  () =>
    new DomicileError('RATE_LIMITED', 'too many logins are being checked at once: try again in a second', {
      details: { limit: 'password-checks', retryAfterSeconds: 1 },
    }),
);

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  // scrypt needs 128·N·r bytes; give it that plus headroom, not the 32 MiB default cap.
  const maxmem = 128 * N * params.r * 2 + 1024 * 1024;
  return passwordChecks.run(
    () =>
      new Promise((resolve, reject) => {
        scrypt(password.normalize('NFKC'), salt, hashBytes, { N, r: params.r, p: params.p, maxmem }, (err, key) => {
          if (err) reject(new DomicileError('INTERNAL', `scrypt failed: ${err.message}`, { cause: err }));
          else resolve(key);
        });
      }),
  );
}

/**
 * Control characters (Unicode category Cc: C0, DEL, C1) and unpaired surrogates (Cs).
 *
 * Why NUL in particular: scrypt's first step is PBKDF2-HMAC-SHA256 keyed with the password,
 * and HMAC pads a key shorter than its 64-byte block with zero bytes, so "ab" and "ab" plus
 * six NULs are the same key: one verified as the other. No accepted password may contain
 * NUL, so no two accepted passwords differ only by trailing zero bytes. Unpaired surrogates
 * have no UTF-8 form (each is encoded as U+FFFD, so they too would collide), and the other
 * control characters are invisible, untypeable on a phone and mangled by terminals.
 */
const unacceptable = /[\p{Cc}\p{Cs}]/u;

/** Why a password string is unacceptable, or undefined; the one rule for the HTTP schemas and the regions. */
export function passwordProblem(password: string): string | undefined {
  if (unacceptable.test(password))
    return 'a password may not contain control characters (U+0000-U+001F, U+007F-U+009F) or unpaired surrogates';
  return undefined;
}

/** A password as hashing accepts it: a string of 1 to 1024 characters, none a control character (BAD_REQUEST otherwise). */
export function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length === 0 || password.length > maxPasswordLength) {
    throw new DomicileError('BAD_REQUEST', `password is a string of 1 to ${maxPasswordLength} characters`, {
      details: { field: 'password' },
    });
  }
  const problem = passwordProblem(password);
  if (problem !== undefined)
    throw new DomicileError('BAD_REQUEST', `password: ${problem}`, { details: { field: 'password' } });
  return password;
}

export async function hashPassword(password: string, params: ScryptParams = defaultScryptParams): Promise<string> {
  checkPassword(password);
  const salt = randomBytes(saltBytes);
  const hash = await derive(password, salt, params);
  return `scrypt$${params.logN}$${params.r}$${params.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Parses a stored hash; INTEGRITY if it is not one of ours (or has absurd parameters). */
export function parsePasswordHash(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } {
  const parts = stored.split('$');
  const [scheme, logN, r, p, salt, hash] = parts;
  const params = { logN: Number(logN), r: Number(r), p: Number(p) };
  const sane =
    parts.length === 6 &&
    scheme === 'scrypt' &&
    Number.isInteger(params.logN) &&
    params.logN >= 10 &&
    params.logN <= 20 &&
    Number.isInteger(params.r) &&
    params.r >= 1 &&
    params.r <= 32 &&
    Number.isInteger(params.p) &&
    params.p >= 1 &&
    params.p <= 16 &&
    salt !== undefined &&
    hash !== undefined &&
    salt.length > 0 &&
    hash.length > 0;
  if (!sane)
    throw new DomicileError('INTEGRITY', 'a stored password hash is not in the scrypt$logN$r$p$salt$hash form');
  return { params, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') };
}

/**
 * What checking a password against an account costs, for a login that has no account: the
 * same scrypt with the same parameters, through the same bound, so that an unknown phone or
 * e-mail is not told apart by how fast it is refused. Always false.
 */
export async function verifyNoPassword(password: string, params: ScryptParams = defaultScryptParams): Promise<false> {
  checkPassword(password);
  const candidate = await derive(password, randomBytes(saltBytes), params);
  timingSafeEqual(candidate, Buffer.alloc(candidate.length));
  return false;
}

/** True when `password` matches `stored`; compares in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  checkPassword(password);
  const parsed = parsePasswordHash(stored);
  const candidate = await derive(password, parsed.salt, parsed.params);
  return candidate.length === parsed.hash.length && timingSafeEqual(candidate, parsed.hash);
}
