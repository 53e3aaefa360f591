import { z } from 'zod';
import { passwordProblem } from '../crypto/password.js';
import { clientRecordKey, market } from '../region/region-fields.js';

/** Request and response schemas of the public HTTP API; they also make the OpenAPI at /docs. */

export const errorBody = z.object({
  error: z.object({
    code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional(),
    requestId: z.string().describe("this request's id, also in the gateway's log line: quote it to the operator"),
  }),
});

const phone = z.string().min(4).max(32).describe('E.164, for example +919812345678');
const email = z.string().min(3).max(254);
/** No control characters nor unpaired surrogates, at registration and at login alike (password.ts says why). */
const acceptablePassword = (s: z.ZodString) => s.refine((p) => passwordProblem(p) === undefined, { message: 'a password may not contain control characters (U+0000-U+001F, U+007F-U+009F) or unpaired surrogates' });
const password = acceptablePassword(z.string().min(8, 'a password has at least 8 characters').max(256));
const device = z.string().min(1).max(100).describe("A name for this device, e.g. 'Redmi 1S'; stored encrypted in the home region");

export const registerBody = z.object({
  phone: phone.optional(),
  email: email.optional(),
  password,
  market,
  device: device.optional(),
}).strict();

export const loginBody = z.object({
  phone: phone.optional(),
  email: email.optional(),
  password: acceptablePassword(z.string().min(1).max(256)),
  device: device.optional(),
}).strict();

export const tokenReply = z.object({ userId: z.string(), token: z.string(), sessionId: z.string() });

export const meReply = z.object({
  userId: z.string(),
  market: z.string(),
  homes: z.record(z.string(), z.object({ region: z.string(), epoch: z.number() })),
});

export const deviceReply = z.object({
  sessionId: z.string(),
  label: z.string().nullable(),
  createdAt: z.number(),
  revokedAt: z.number().nullable(),
  current: z.boolean(),
});

const segment = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');

export const collectionParams = z.object({ service: segment, collection: segment });
export const recordParams = collectionParams.extend({ key: clientRecordKey });

export const recordReply = z.object({
  collection: z.string(),
  key: z.string(),
  version: z.number(),
  updatedAt: z.number(),
  value: z.unknown(),
  unreadable: z.string().optional().describe('why value is null: the stored value cannot be given (too deeply nested, or failed its integrity check)'),
});

export const writeReply = z.object({ collection: z.string(), key: z.string(), version: z.number(), updatedAt: z.number() });
