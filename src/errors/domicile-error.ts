/**
 * The one error class of Domicile. Every failure that reaches a user, an operator or another
 * node carries one of these closed codes; `src/errors/error-status.ts` is the single place
 * that maps codes to HTTP statuses.
 */
export const errorCodes = [
  'BAD_REQUEST', // malformed input: body, params, flags
  'POLICY_INVALID', // a policy file failed validation
  'UNAUTHENTICATED', // no, expired, forged or revoked credential
  'FORBIDDEN', // authenticated, but not allowed
  'NOT_FOUND',
  'CONFLICT', // e.g. account exists, version mismatch
  'WRONG_REGION', // this region does not home the user (details.home says where)
  'STALE_EPOCH', // the caller routed with an old directory epoch
  'FENCED', // the user is being cut over; retry shortly
  'STALE_LEADER', // a migration coordinator whose lead another has taken since (its fencing token is older)
  'CONSENT_REQUIRED', // a category needs a consent purpose that has no current grant
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE', // the body's Content-Type is not one the route takes
  'RANGE_NOT_SATISFIABLE', // a Range outside the representation
  'QUOTA_EXCEEDED', // the user's storage quota would be exceeded; details.limit, details.used
  'RATE_LIMITED', // too many requests of one kind from one user; details.retryAfterSeconds
  'UNAVAILABLE', // a region or dependency cannot be reached
  'INTEGRITY', // a ciphertext or digest failed to verify
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export class DomicileError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DomicileError';
    this.code = code;
    this.details = options?.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isDomicileError(value: unknown, code?: ErrorCode): value is DomicileError {
  return value instanceof DomicileError && (code === undefined || value.code === code);
}

/** Rebuilds an error that crossed a process boundary as `{ code, message, details }`. */
export function errorFromJSON(body: unknown, fallbackMessage: string): DomicileError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  const code = errorCodes.find((c) => c === error?.code) ?? 'INTERNAL';
  const message = typeof error?.message === 'string' ? error.message : fallbackMessage;
  const details =
    error?.details && typeof error.details === 'object' ? (error.details as Record<string, unknown>) : undefined;
  return new DomicileError(code, message, details === undefined ? undefined : { details });
}
