import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { MigrationEngine } from '../../migrate/migration-engine.js';
import { dashboardSummary } from '../../platform/dashboard-summary.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';
import { dashboardSummary as summarySchema } from '../operator-schemas.js';

/** The built dashboard (`npm run build` puts it in dist/web), found from this file wherever it runs from. */
export function dashboardFiles(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) {
      const web = join(dir, 'dist', 'web');
      return existsSync(join(web, 'index.html')) ? web : undefined;
    }
  }
  return undefined;
}

/** How often the event stream looks for a change in the migration (ms). */
const eventInterval = 250;

/**
 * The operators' dashboard: its page and assets at /dashboard/ (static, holding no data; every
 * figure it shows comes from the operator API with the operator credential), the summary it
 * draws, and a Server-Sent Events stream of the migration's progress.
 */
export function dashboardRoutes(ctx: GatewayContext, engine: MigrationEngine | undefined): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const security = [{ operator: [] }];
  return async (app) => {
    // Event streams never go idle, so closing the server would wait for them for ever: they are
    // ended when it closes (Ctrl-C on `domicile up` with a dashboard open).
    const streams = new Set<() => void>();
    app.addHook('preClose', async () => {
      for (const end of streams) end();
    });

    app.get(
      '/v1/ops/dashboard',
      {
        onRequest: ctx.requireOperator,
        schema: {
          tags: ['operator'],
          summary:
            "What the dashboard shows: regions, markets' compliance, placement, migration, transfers, consent, audit",
          security,
          response: { 200: summarySchema, 401: errorBody },
        },
      },
      async () => dashboardSummary(platform, engine),
    );

    app.get(
      '/v1/ops/events',
      {
        onRequest: ctx.requireOperator,
        schema: {
          tags: ['operator'],
          summary: "Server-Sent Events: the migration's status (event: migration) whenever it changes",
          security,
          // The stream is written to the socket (the reply is hijacked), never through the
          // serializer: this only describes it in /docs.
          response: {
            200: {
              description: 'an event stream that lasts until the client leaves',
              content: { 'text/event-stream': { schema: z.string() } },
            },
            401: errorBody,
          },
        },
      },
      async (request, reply) => {
        reply.hijack();
        reply.raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'private, no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-content-type-options': 'nosniff',
        });
        // A HEAD (Fastify answers it with this handler) gets the headers alone, not a stream that never ends.
        if (request.method === 'HEAD') {
          reply.raw.end();
          return;
        }
        let last = '';
        let beats = 0;
        let ended = false;
        let reading = false;
        const tick = async () => {
          // One read at a time; a status the store cannot give now is tried again at the next tick.
          if (reading) return;
          reading = true;
          let status: string;
          try {
            status = JSON.stringify((await engine?.status()) ?? null);
          } catch {
            return;
          } finally {
            reading = false;
          }
          if (ended) return;
          if (status !== last) {
            last = status;
            reply.raw.write(`event: migration\ndata: ${status}\n\n`);
          } else if (++beats % 60 === 0) {
            reply.raw.write(': keep-alive\n\n');
          }
        };
        void tick();
        const timer = setInterval(() => void tick(), eventInterval);
        const end = () => {
          ended = true;
          clearInterval(timer);
          streams.delete(end);
          reply.raw.end();
        };
        streams.add(end);
        request.raw.on('close', end);
      },
    );

    const root = dashboardFiles();
    app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/dashboard/'));
    if (!root) {
      app.get('/dashboard/*', { schema: { hide: true } }, async (_request, reply) =>
        reply.code(503).send({
          error: {
            code: 'UNAVAILABLE',
            message: 'the dashboard is not built: run `npm run build` (it puts the page in dist/web)',
          },
        }),
      );
      return;
    }
    await app.register(fastifyStatic, {
      root,
      prefix: '/dashboard/',
      index: ['index.html'],
      // Hashed assets never change; the page itself is looked at again each time.
      setHeaders: (res, path) => {
        res.header(
          'cache-control',
          path.includes(`${join(root, 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
        res.header(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        );
        res.header('x-content-type-options', 'nosniff');
      },
    });
  };
}
