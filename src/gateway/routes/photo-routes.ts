import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomicileError } from '../../errors/domicile-error.js';
import { completedManifest, completeUpload, deletePhoto, getManifest, maxPhotoBytes, photoChunkSize, putChunk, readPhoto, startUpload } from '../../services/cloud/photo-sync.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';

const photoId = z.object({ id: z.string().regex(/^ph_[A-Za-z0-9_-]{1,64}$/, 'a photo id, ph_…') });

/** One byte range of `size` bytes (RFC 9110: a-b, a-, -n), or undefined when it cannot be served. */
export function parseRange(header: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : undefined;
}

/**
 * Mi Cloud's photo sync: chunked, resumable uploads and ranged downloads (see photo-sync.ts).
 * Everything here is personal: private, no-store, as every /v1/me answer.
 */
export function photoRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const tags = ['cloud'];
  const security = [{ bearer: [] }];
  return async (app) => {
    // Chunks come as raw bytes; only in this plugin (their route sets the size limit).
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    app.post('/v1/me/photos', {
      onRequest: ctx.requireUser,
      schema: {
        tags, security, summary: `Start a photo upload: it is then sent in chunks of ${photoChunkSize} bytes, in any order, again after an interruption`,
        body: z.object({
          name: z.string().min(1).max(200),
          contentType: z.string().regex(/^[a-z]+\/[a-z0-9.+-]+$/, 'a media type, for example image/jpeg'),
          size: z.number().int().min(1).max(maxPhotoBytes),
          sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "the file's SHA-256 in hex"),
        }).strict(),
        response: { 201: z.looseObject({}), 400: errorBody, 401: errorBody, 403: errorBody },
      },
    }, async (request, reply) => reply.code(201).send({ ...(await startUpload(platform, request.user.userId, request.body)) }));

    app.put('/v1/me/photos/:id/chunks/:index', {
      onRequest: ctx.requireUser,
      bodyLimit: photoChunkSize,
      schema: {
        tags, security, summary: 'Send one chunk (Content-Type: application/octet-stream); sending it again replaces it',
        params: photoId.extend({ index: z.coerce.number().int().min(0).max(1_000_000) }),
        response: { 200: z.object({ received: z.number(), missing: z.number() }), 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 413: errorBody },
      },
    }, async (request) => {
      if (!Buffer.isBuffer(request.body)) throw new DomicileError('BAD_REQUEST', 'send the chunk as raw bytes with Content-Type: application/octet-stream');
      return putChunk(platform, request.user.userId, request.params.id, request.params.index, request.body);
    });

    app.get('/v1/me/photos/:id', {
      onRequest: ctx.requireUser,
      schema: { tags, security, summary: "A photo's manifest, and while it uploads the chunks still missing (to resume)", params: photoId, response: { 200: z.looseObject({}), 401: errorBody, 404: errorBody } },
    }, async (request) => ({ ...(await getManifest(platform, request.user.userId, request.params.id)) }));

    app.post('/v1/me/photos/:id/complete', {
      onRequest: ctx.requireUser,
      schema: { tags, security, summary: 'Finish an upload: every chunk there and hashing to the declared SHA-256', params: photoId, response: { 200: z.looseObject({}), 401: errorBody, 404: errorBody, 409: errorBody } },
    }, async (request) => ({ ...(await completeUpload(platform, request.user.userId, request.params.id)) }));

    app.get('/v1/me/photos/:id/content', {
      onRequest: ctx.requireUser,
      schema: { tags, security, summary: "A photo's bytes; Range: bytes=a-b for a part (206)", params: photoId, response: { 200: z.any().describe("the photo's bytes"), 206: z.any().describe('the bytes of the range asked'), 401: errorBody, 404: errorBody, 409: errorBody, 416: errorBody } },
    }, async (request, reply) => {
      const manifest = await completedManifest(platform, request.user.userId, request.params.id);
      const asked = request.headers.range;
      const range = asked === undefined ? { start: 0, end: manifest.size - 1 } : parseRange(asked, manifest.size);
      if (!range) {
        return reply.code(416).header('content-range', `bytes */${manifest.size}`)
          .send({ error: { code: 'BAD_REQUEST', message: `the range "${asked}" is not within this photo's ${manifest.size} bytes: ask for bytes=a-b` } });
      }
      void reply.code(asked === undefined ? 200 : 206)
        .header('content-type', manifest.contentType).header('accept-ranges', 'bytes').header('etag', `"${manifest.sha256}"`)
        .header('content-length', String(range.end - range.start + 1));
      if (asked !== undefined) void reply.header('content-range', `bytes ${range.start}-${range.end}/${manifest.size}`);
      return reply.send(Readable.from(readPhoto(platform, request.user.userId, manifest.id, range.start, range.end)));
    });

    app.delete('/v1/me/photos/:id', {
      onRequest: ctx.requireUser,
      schema: { tags, security, summary: 'Delete a photo, every chunk of it', params: photoId, response: { 204: z.null(), 401: errorBody, 404: errorBody } },
    }, async (request, reply) => {
      await deletePhoto(platform, request.user.userId, request.params.id);
      return reply.code(204).send(null);
    });
  };
}
