import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomicileError } from '../../errors/domicile-error.js';
import { productEntity, productSchema } from '../../services/shop/catalog.js';
import type { FlashSales } from '../../services/shop/flash-sales.js';
import { etagMatches } from '../edge-cache.js';
import type { GatewayContext } from '../gateway-context.js';
import { errorBody } from '../http-schemas.js';

/** The catalog is the same for everyone and changes with a deploy: a CDN may keep it a minute. */
const catalogCacheControl = 'public, max-age=60';
const saleId = z.object({
  saleId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a sale id: lower-case letters, digits and dashes'),
});

const saleStock = z.strictObject({
  id: z.string(),
  sku: z.string(),
  units: z.number(),
  remaining: z.number(),
  soldOut: z.boolean(),
});
const saleClaim = z.strictObject({
  saleId: z.string(),
  unit: z.number().describe("the unit's number in the sale"),
  claimedAt: z.number(),
  sku: z.string(),
  order: z
    .strictObject({ service: z.literal('shop'), collection: z.literal('orders'), key: z.string() })
    .describe("where the order rests in the buyer's home region"),
  status: z.literal('confirmed'),
}) satisfies z.ZodType<Awaited<ReturnType<FlashSales['claim']>> & { status: 'confirmed' }>;
const saleCounts = z.strictObject({
  id: z.string(),
  sku: z.string(),
  units: z.number(),
  sold: z.number(),
  remaining: z.number(),
  ordered: z.number().describe("claims whose order rests in the buyer's home region"),
  pendingOrders: z.number(),
  lastError: z.string().nullable(),
}) satisfies z.ZodType<Awaited<ReturnType<FlashSales['counts']>>>;

/**
 * Answers an entity with its ETag, or 304 when the client holds it already. The body is the
 * catalog's own JSON, made once from what catalogSchema parsed (its strict productSchema, which
 * the routes declare): a string goes out as it is, without the serializer.
 */
function sendEntity(
  request: FastifyRequest,
  reply: FastifyReply,
  entity: { body: string; etag: string },
  cacheControl: string,
): FastifyReply {
  void reply
    .header('etag', entity.etag)
    .header('cache-control', cacheControl)
    .header('content-type', 'application/json; charset=utf-8');
  if (etagMatches(request.headers['if-none-match'], entity.etag)) return reply.code(304).send();
  return reply.send(entity.body);
}

/**
 * The Mi store: its catalog (not personal: public and cacheable at the edge) and its flash
 * sales. A claim is a logged-in buyer's; its order rests in the buyer's home region for the
 * shop service (`GET /v1/me/shop/orders/sale-<saleId>`).
 */
export function shopRoutes(ctx: GatewayContext): FastifyPluginAsyncZod {
  const { platform } = ctx;
  const sales = (): FlashSales => {
    const { sales: running, noSales } = platform.shop;
    if (!running)
      throw new DomicileError('UNAVAILABLE', `this gateway runs no flash sales: ${noSales ?? 'none configured'}`);
    return running;
  };
  const tags = ['shop'];
  return async (app) => {
    app.get(
      '/v1/catalog',
      {
        schema: {
          tags,
          summary: 'The catalog (public; ETag and Cache-Control, cached at the edge)',
          response: { 200: z.strictObject({ products: z.array(productSchema) }), 304: z.null() },
        },
      },
      async (request, reply) => sendEntity(request, reply, platform.shop.catalog, catalogCacheControl),
    );

    app.get(
      '/v1/catalog/:sku',
      {
        schema: {
          tags,
          summary: 'One product (public; ETag and Cache-Control)',
          params: z.object({ sku: z.string().max(64) }),
          response: { 200: productSchema, 304: z.null(), 404: errorBody },
        },
      },
      async (request, reply) => {
        const product = platform.shop.catalog.products.find((p) => p.sku === request.params.sku);
        if (!product)
          throw new DomicileError(
            'NOT_FOUND',
            `no product "${request.params.sku}" in the catalog: GET /v1/catalog lists them`,
          );
        return sendEntity(request, reply, productEntity(product), catalogCacheControl);
      },
    );

    app.get(
      '/v1/shop/sales/:saleId',
      {
        schema: {
          tags,
          summary: "A flash sale's stock left (public; a CDN may keep it a second)",
          params: saleId,
          response: { 200: saleStock, 404: errorBody, 503: errorBody },
        },
      },
      async (request, reply) => {
        const { id, sku, units, remaining } = await sales().counts(request.params.saleId);
        void reply.header('cache-control', 'public, max-age=1');
        return { id, sku, units, remaining, soldOut: remaining === 0 };
      },
    );

    app.post(
      '/v1/shop/sales/:saleId/claims',
      {
        onRequest: ctx.requireUser,
        schema: {
          tags,
          security: [{ bearer: [] }],
          params: saleId,
          summary:
            'Buy one unit in a flash sale: first come, first served, one per buyer (409 sold-out or already-bought)',
          response: { 201: saleClaim, 401: errorBody, 404: errorBody, 409: errorBody, 503: errorBody },
        },
      },
      async (request, reply) => {
        // An authenticated buyer has a home for every service (registration makes them, migrations
        // move them), so the order has a region to rest in; the order writer gets it from there.
        const claim = await sales().claim(request.params.saleId, request.user.userId);
        return reply.code(201).send({ ...claim, status: 'confirmed' });
      },
    );

    app.get(
      '/v1/ops/shop/sales/:saleId',
      {
        onRequest: ctx.requireOperator,
        schema: {
          tags: ['operator'],
          security: [{ operator: [] }],
          summary: "A flash sale's counts: sold, orders written to the buyers' regions, pending",
          params: saleId,
          response: { 200: saleCounts, 401: errorBody, 404: errorBody, 503: errorBody },
        },
      },
      async (request) => sales().counts(request.params.saleId),
    );
  };
}
