import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomicileError } from '../../errors/domicile-error.js';
import {
  completedManifest,
  completeUpload,
  defaultPhotoQuotaBytes,
  deletePhoto,
  getManifest,
  maxPhotoBytes,
  type PhotoManifest,
  photoChunkSize,
  putChunk,
  readPhoto,
  startUpload,
} from '../../services/cloud/photo-sync.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';

const photoManifest = z.strictObject({
  id: z.string(),
  name: z.string(),
  contentType: z.string(),
  size: z.number(),
  sha256: z.string(),
  chunkSize: z.number(),
  chunks: z.number(),
  received: z.array(z.number()).describe('chunks received so far, while uploading'),
  state: z.enum(['uploading', 'complete']),
  createdAt: z.number(),
  completedAt: z.number().nullable(),
}) satisfies z.ZodType<PhotoManifest>;

/**
 * A photo's bytes are streamed as they are, in their own media type: a stream is never given to
 * the serializer, so these schemas only describe the bytes in /docs (errors are JSON, checked
 * as everywhere).
 */
const photoBytes = (description: string) => {
  const schema = z.custom<Readable>().meta({ type: 'string', format: 'binary' });
  return {
    description,
    content: { 'image/*': { schema }, 'video/*': { schema }, 'application/octet-stream': { schema } },
  };
};

const photoId = z.object({ id: z.string().regex(/^ph_[A-Za-z0-9_-]{1,64}$/, 'a photo id, ph_…') });

/**
 * What a photo may be: images and videos a phone takes, never a type a browser runs (HTML,
 * SVG, scripts), so nothing uploaded is served back as a page of this origin.
 */
export const photoContentTypes = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/heic',
  'image/heif',
  'image/avif',
  'image/tiff',
  'image/bmp',
  'video/mp4',
  'video/quicktime',
  'video/3gpp',
  'video/webm',
  'video/x-matroska',
  'video/mpeg',
] as const;
const allowedContentTypes: ReadonlySet<string> = new Set(photoContentTypes);

/** A chunk's index: decimal digits, no sign, space, fraction or leading zero ("", "0x1", " 1", "1.0" are refused). */
const chunkIndex = z
  .string()
  .regex(
    /^(0|[1-9][0-9]{0,6})$/,
    'a chunk index is a whole number written in decimal digits, from 0, without sign, spaces or leading zeros',
  )
  .transform(Number);

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
export function photoRoutes(ctx: GatewayContext, quotaBytes = defaultPhotoQuotaBytes): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const tags = ['cloud'];
  const security = [{ bearer: [] }];
  return async (app) => {
    // Chunks come as raw bytes; only in this plugin (their route sets the size limit).
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
      done(null, body),
    );

    app.post(
      '/v1/me/photos',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: `Start a photo upload: it is then sent in chunks of ${photoChunkSize} bytes, in any order, again after an interruption`,
          body: z
            .object({
              name: z.string().min(1).max(200),
              contentType: z.string().refine((t) => allowedContentTypes.has(t), {
                message: `a photo's media type is one of: ${photoContentTypes.join(', ')}`,
              }),
              size: z.number().int().min(1).max(maxPhotoBytes),
              sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "the file's SHA-256 in hex"),
            })
            .strict(),
          response: { 201: photoManifest, 400: errorBody, 401: errorBody, 403: errorBody, 413: errorBody },
        },
      },
      async (request, reply) =>
        reply.code(201).send(await startUpload(platform, request.user.userId, request.body, quotaBytes)),
    );

    app.put(
      '/v1/me/photos/:id/chunks/:index',
      {
        onRequest: ctx.requireUser,
        bodyLimit: photoChunkSize,
        schema: {
          tags,
          security,
          summary: 'Send one chunk (Content-Type: application/octet-stream); sending it again replaces it',
          params: photoId.extend({ index: chunkIndex }),
          response: {
            200: z.strictObject({ received: z.number(), missing: z.number() }),
            400: errorBody,
            401: errorBody,
            403: errorBody,
            404: errorBody,
            409: errorBody,
            413: errorBody,
          },
        },
      },
      async (request) => {
        if (!Buffer.isBuffer(request.body))
          throw new DomicileError(
            'UNSUPPORTED_MEDIA_TYPE',
            'send the chunk as raw bytes with Content-Type: application/octet-stream',
          );
        return putChunk(platform, request.user.userId, request.params.id, request.params.index, request.body);
      },
    );

    app.get(
      '/v1/me/photos/:id',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: "A photo's manifest, and while it uploads the chunks still missing (to resume)",
          params: photoId,
          response: {
            200: photoManifest.extend({ missing: z.array(z.number()).describe('chunks still to send') }),
            401: errorBody,
            404: errorBody,
          },
        },
      },
      async (request) => getManifest(platform, request.user.userId, request.params.id),
    );

    app.post(
      '/v1/me/photos/:id/complete',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: 'Finish an upload: every chunk there and hashing to the declared SHA-256',
          params: photoId,
          response: { 200: photoManifest, 401: errorBody, 404: errorBody, 409: errorBody },
        },
      },
      async (request) => completeUpload(platform, request.user.userId, request.params.id),
    );

    app.get(
      '/v1/me/photos/:id/content',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: "A photo's bytes; Range: bytes=a-b for a part (206)",
          params: photoId,
          response: {
            200: photoBytes("the photo's bytes"),
            206: photoBytes('the bytes of the range asked'),
            401: errorBody,
            404: errorBody,
            409: errorBody,
            416: errorBody,
          },
        },
      },
      async (request, reply) => {
        const manifest = await completedManifest(platform, request.user.userId, request.params.id);
        const asked = request.headers.range;
        const range = asked === undefined ? { start: 0, end: manifest.size - 1 } : parseRange(asked, manifest.size);
        if (!range) {
          void reply.header('content-range', `bytes */${manifest.size}`);
          throw new DomicileError(
            'RANGE_NOT_SATISFIABLE',
            `the Range asked is not within this photo's ${manifest.size} bytes: ask for bytes=a-b`,
          );
        }
        void reply
          .code(asked === undefined ? 200 : 206)
          // A photo stored before types were checked is served as bytes, never as what it claimed.
          .header(
            'content-type',
            allowedContentTypes.has(manifest.contentType) ? manifest.contentType : 'application/octet-stream',
          )
          .header('accept-ranges', 'bytes')
          .header('etag', `"${manifest.sha256}"`)
          .header('content-length', String(range.end - range.start + 1));
        if (asked !== undefined)
          void reply.header('content-range', `bytes ${range.start}-${range.end}/${manifest.size}`);
        return reply.send(Readable.from(readPhoto(platform, request.user.userId, manifest.id, range.start, range.end)));
      },
    );

    app.delete(
      '/v1/me/photos/:id',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security,
          summary: 'Delete a photo, every chunk of it',
          params: photoId,
          response: { 204: z.null(), 401: errorBody, 404: errorBody },
        },
      },
      async (request, reply) => {
        await deletePhoto(platform, request.user.userId, request.params.id);
        return reply.code(204).send(null);
      },
    );
  };
}
