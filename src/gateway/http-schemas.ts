import { z } from 'zod';
import { type ConsentLedger, type ConsentRecord, decisions } from '../consent/consent-ledger.js';
import { passwordProblem } from '../crypto/password.js';
import type { HomeEntry } from '../directory/directory.js';
import type { RecordView } from '../region/region-client.js';
import { clientRecordKey, market } from '../region/region-fields.js';

/**
 * Request and response schemas of the public HTTP API; they also make the OpenAPI at /docs.
 * Answers are checked against theirs as they are sent, so every object in an answer's schema is
 * strict (reply-serializer.ts): a field it lacks fails the answer rather than drifting from /docs.
 */

export const errorBody = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
    requestId: z.string().describe("this request's id, also in the gateway's log line: quote it to the operator"),
  }),
});

const phone = z.string().min(4).max(32).describe('E.164, for example +919812345678');
const email = z.string().min(3).max(254);
/** No control characters nor unpaired surrogates, at registration and at login alike (password.ts says why). */
const acceptablePassword = (s: z.ZodString) =>
  s.refine((p) => passwordProblem(p) === undefined, {
    message: 'a password may not contain control characters (U+0000-U+001F, U+007F-U+009F) or unpaired surrogates',
  });
const password = acceptablePassword(z.string().min(8, 'a password has at least 8 characters').max(256));
const device = z
  .string()
  .min(1)
  .max(100)
  .describe("A name for this device, e.g. 'Redmi 1S'; stored encrypted in the home region");

export const registerBody = z
  .object({
    phone: phone.optional(),
    email: email.optional(),
    password,
    market,
    device: device.optional(),
  })
  .strict();

export const loginBody = z
  .object({
    phone: phone.optional(),
    email: email.optional(),
    password: acceptablePassword(z.string().min(1).max(256)),
    device: device.optional(),
  })
  .strict();

export const tokenReply = z.strictObject({ userId: z.string(), token: z.string(), sessionId: z.string() });

export const meReply = z.strictObject({
  userId: z.string(),
  market: z.string(),
  homes: z.record(z.string(), z.strictObject({ region: z.string(), epoch: z.number() })).describe('per service'),
});

export const deviceReply = z.strictObject({
  sessionId: z.string(),
  label: z.string().nullable(),
  createdAt: z.number(),
  revokedAt: z.number().nullable(),
  current: z.boolean(),
});

const segment = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');

export const collectionParams = z.object({ service: segment, collection: segment });
export const recordParams = collectionParams.extend({ key: clientRecordKey });

export const recordReply = z.strictObject({
  collection: z.string(),
  key: z.string(),
  version: z.number(),
  updatedAt: z.number(),
  value: z.unknown(),
  unreadable: z
    .string()
    .optional()
    .describe('why value is null: the stored value cannot be given (too deeply nested, or failed its integrity check)'),
}) satisfies z.ZodType<RecordView>;

export const writeReply = z.strictObject({
  collection: z.string(),
  key: z.string(),
  version: z.number(),
  updatedAt: z.number(),
});

/** A user's home for one service: the region that serves it, at the directory's epoch. */
export const homeEntry = z.strictObject({
  service: z.string(),
  region: z.string(),
  epoch: z.number(),
}) satisfies z.ZodType<HomeEntry>;

export const noticeRef = z.strictObject({
  id: z.string(),
  version: z.string(),
  hash: z.string().describe("SHA-256 (hex) of the purpose's id, description and notice"),
});

export const consentRecord = z.strictObject({
  purpose: z.string(),
  decision: z.enum(decisions),
  notice: noticeRef.nullable(),
  method: z.string(),
  jurisdiction: z.string(),
  at: z.number(),
  source: z.string(),
}) satisfies z.ZodType<ConsentRecord>;

export const consentLedger = z.strictObject({
  purpose: z.string(),
  history: z.array(consentRecord),
}) satisfies z.ZodType<ConsentLedger>;
