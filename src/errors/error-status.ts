import type { ErrorCode } from './domicile-error.js';

/** The one place that maps error codes to HTTP statuses. */
export const errorStatus: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  POLICY_INVALID: 422,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  WRONG_REGION: 409,
  STALE_EPOCH: 409,
  FENCED: 503,
  // 409, not 503: the caller must stop, not retry; a newer coordinator leads the migration.
  STALE_LEADER: 409,
  CONSENT_REQUIRED: 403,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  // 413, not 507: the client must change what it sends (delete photos), not retry as after a server fault.
  QUOTA_EXCEEDED: 413,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTEGRITY: 500,
  INTERNAL: 500,
};
