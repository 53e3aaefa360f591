import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomicileError, type ErrorCode, isDomicileError } from '../errors/domicile-error.js';
import { errorStatus } from '../errors/error-status.js';
import { newId } from './new-id.js';

/**
 * The one place where anything thrown while serving HTTP (the gateway's routes and the region
 * node's server alike) becomes an answer: a DomicileError's code, the status that code has, a
 * message meant for the client, and the request's id, which is also in the log line. Fastify's
 * own refusals are put in the house's words (never its FST_ names or its messages, which may
 * quote the URL); a server fault answers only the id to quote, its message (which may name a
 * file) goes to the log.
 */

/** A fresh id per request, unguessable and unique across restarts and gateways (not a counter). */
export function newRequestId(): string {
  return newId('req', 9);
}

/** An absolute file path (POSIX or Windows) in parentheses, spaces and all, or where it starts a word: for the log, never for a client. */
const pathInParentheses = /\((?:[A-Za-z]:\\|\/)[^)]*\)/g;
const absolutePath = /(?<=^|[\s("'=])(?:[A-Za-z]:\\|\/)(?:[^\s/\\()'",;]+[/\\])*[^\s/\\()'",;]+/g;

/** Headers of a representation that an error answer must not inherit from a handler that set them before it failed. */
const representationHeaders = [
  'content-type',
  'content-length',
  'etag',
  'accept-ranges',
  'content-disposition',
  'last-modified',
];

const statusCodes: Readonly<Record<number, ErrorCode>> = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  416: 'RANGE_NOT_SATISFIABLE',
  429: 'RATE_LIMITED',
};

/** Fastify's refusals, by its error code, in the house's words. */
const fastifyRefusals: Readonly<Record<string, [ErrorCode, string]>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['PAYLOAD_TOO_LARGE', 'the request body is larger than this endpoint takes'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [
    'UNSUPPORTED_MEDIA_TYPE',
    'this endpoint does not take a body of this Content-Type: send JSON as application/json (photo chunks as application/octet-stream)',
  ],
  FST_ERR_CTP_INVALID_TYPE: [
    'UNSUPPORTED_MEDIA_TYPE',
    'the Content-Type header is not a media type: send application/json',
  ],
  FST_ERR_CTP_EMPTY_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is empty: send application/json'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['BAD_REQUEST', 'the body is empty but its Content-Type says JSON: send a JSON value'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['BAD_REQUEST', 'the body is not valid JSON'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['BAD_REQUEST', 'the Content-Length header does not match the body'],
  FST_ERR_MAX_PARAM_LENGTH: [
    'BAD_REQUEST',
    'a part of the URL is too long: see /docs for the limits of each path parameter',
  ],
  FST_ERR_BAD_URL: ['BAD_REQUEST', 'the URL is malformed (bad percent-encoding)'],
};

/** Any thrown value as a DomicileError; `unexpected` turns what is none of the known kinds into one (INTERNAL by default). */
export function asHttpError(
  err: unknown,
  unexpected: (err: unknown) => DomicileError = () => new DomicileError('INTERNAL', 'internal error'),
): DomicileError {
  if (isDomicileError(err)) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issues = err.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
      const message = /^Unrecognized key/.test(v.message ?? '') ? `${v.message}: remove it` : (v.message ?? 'invalid');
      return path ? `${path}: ${message}` : message;
    });
    const where = (err as { validationContext?: string }).validationContext ?? 'request';
    return new DomicileError('BAD_REQUEST', `invalid ${where}: ${issues.join('; ')}`);
  }
  const fastifyErr = err as { code?: unknown; statusCode?: unknown };
  const known = typeof fastifyErr.code === 'string' ? fastifyRefusals[fastifyErr.code] : undefined;
  if (known) return new DomicileError(known[0], known[1], { cause: err });
  // A body parser's SyntaxError carries a 400 and no code of Fastify's.
  if (err instanceof SyntaxError && fastifyErr.statusCode === 400)
    return new DomicileError('BAD_REQUEST', 'the body is not valid JSON', { cause: err });
  if (typeof fastifyErr.statusCode === 'number' && fastifyErr.statusCode >= 400 && fastifyErr.statusCode < 500) {
    const code = statusCodes[fastifyErr.statusCode] ?? 'BAD_REQUEST';
    return new DomicileError(
      code,
      `the request was refused (${code.toLowerCase().replaceAll('_', ' ')}): see /docs for this endpoint`,
      { cause: err },
    );
  }
  return unexpected(err);
}

/** The body an error answers, for a request id. */
export function errorBodyOf(
  error: DomicileError,
  requestId: string,
): { error: { code: ErrorCode; message: string; requestId: string; details?: Record<string, unknown> } } {
  // A bug's message may say anything (a driver's, a file's): the client gets the id to quote.
  if (error.code === 'INTERNAL') {
    return {
      error: {
        code: error.code,
        message: `internal error: quote request id ${requestId} to the operator, who finds it in the logs`,
        requestId,
      },
    };
  }
  // An integrity failure says what failed, without where the file is; the log line has it all.
  if (error.code === 'INTEGRITY') {
    return {
      error: {
        code: error.code,
        message: `${error.message.replace(pathInParentheses, '(a file of the region)').replace(absolutePath, 'a file of the region')} (quote request id ${requestId} to the operator)`,
        requestId,
      },
    };
  }
  return { error: { ...error.toJSON(), requestId } };
}

/**
 * What an answer that failed its response schema got wrong, for the log: each issue's path and
 * zod's words, which name fields and what was expected, never the values the answer held.
 */
function answerProblems(err: unknown): string[] | undefined {
  const { code, cause } = err as { code?: unknown; cause?: unknown };
  if (code !== 'FST_ERR_RESPONSE_SERIALIZATION' || !(cause instanceof z.core.$ZodError)) return undefined;
  return cause.issues.map((issue) => `${issue.path.join('.') || '(the answer)'}: ${issue.message}`);
}

/** Answers `err` on `reply`: the mapped status and body, no-store, nosniff, and a log line with the request id. */
export function sendHttpError(
  request: FastifyRequest,
  reply: FastifyReply,
  err: unknown,
  unexpected?: (err: unknown) => DomicileError,
): FastifyReply {
  const error = asHttpError(err, unexpected);
  const status = errorStatus[error.code];
  if (status >= 500) {
    // The cause's name and message are for the operator; they never reach the client.
    const cause = isDomicileError(err) && err.cause !== undefined ? err.cause : err;
    // A region client's UNAVAILABLE keeps the node's address and the socket's error in its cause: logged here, never answered.
    const causeMessage =
      error.code === 'UNAVAILABLE' && err instanceof Error && err.cause instanceof Error
        ? err.cause.message
        : undefined;
    // An answer that did not match its schema (a bug of the route): which fields, so it is found.
    const problems = answerProblems(err);
    request.log.error(
      {
        code: error.code,
        cause: cause instanceof Error ? cause.name : typeof cause,
        msg: err instanceof Error ? err.message : undefined,
        ...(causeMessage === undefined ? {} : { causeMessage }),
        ...(problems === undefined ? {} : { problems }),
      },
      'request failed',
    );
  } else {
    request.log.info({ code: error.code, statusCode: status }, 'request refused');
  }
  for (const header of representationHeaders) reply.removeHeader(header);
  // A refusal that says when to come back (RATE_LIMITED, UNAVAILABLE) says it in Retry-After too.
  const retryAfter = error.details?.retryAfterSeconds;
  if (typeof retryAfter === 'number') reply.header('retry-after', String(Math.ceil(retryAfter)));
  if (error.code !== 'RANGE_NOT_SATISFIABLE') reply.removeHeader('content-range');
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .type('application/json; charset=utf-8')
    .send(errorBodyOf(error, request.id));
}
