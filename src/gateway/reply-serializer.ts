import type { FastifyInstance, FastifySerializerCompiler } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBody } from './http-schemas.js';

/**
 * Where a response schema lets a field it does not name through: the path of every object in
 * it that is not strict ('' for the top). A plain z.object would strip an unknown field and a
 * loose one pass it on, either way unseen; only a strict object refuses it. A record's keys and
 * an unknown value (a user's record value, say) are data, not fields, and are not looked into.
 */
export function laxObjectPaths(schema: z.core.$ZodType, path = '', seen = new Set<z.core.$ZodType>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const within = (child: z.core.$ZodType | undefined, step = ''): string[] =>
    child ? laxObjectPaths(child, path + step, seen) : [];
  if (schema instanceof z.core.$ZodObject) {
    const { shape, catchall } = schema._zod.def;
    const own = catchall instanceof z.core.$ZodNever ? [] : [path];
    return [...own, ...Object.entries(shape).flatMap(([name, field]) => within(field, `.${name}`))];
  }
  if (schema instanceof z.core.$ZodArray) return within(schema._zod.def.element, '[]');
  if (schema instanceof z.core.$ZodRecord) return within(schema._zod.def.valueType, '{}');
  if (schema instanceof z.core.$ZodTuple)
    return [
      ...schema._zod.def.items.flatMap((item, i) => within(item, `[${i}]`)),
      ...within(schema._zod.def.rest ?? undefined, '[]'),
    ];
  if (schema instanceof z.core.$ZodUnion) return schema._zod.def.options.flatMap((option) => within(option));
  if (schema instanceof z.core.$ZodIntersection)
    return [...within(schema._zod.def.left), ...within(schema._zod.def.right)];
  if (schema instanceof z.core.$ZodPipe) return [...within(schema._zod.def.in), ...within(schema._zod.def.out)];
  if (schema instanceof z.core.$ZodLazy) return within(schema._zod.def.getter());
  if (
    schema instanceof z.core.$ZodOptional ||
    schema instanceof z.core.$ZodNullable ||
    schema instanceof z.core.$ZodDefault ||
    schema instanceof z.core.$ZodPrefault ||
    schema instanceof z.core.$ZodReadonly ||
    schema instanceof z.core.$ZodCatch ||
    schema instanceof z.core.$ZodNonOptional
  ) {
    return within(schema._zod.def.innerType);
  }
  return [];
}

/**
 * The gateway's serializer: every answer is checked against its route's schema for its status
 * before it is sent (fastify-type-provider-zod's serializer), and every object in those schemas
 * must be strict, so that an answer with a field its schema lacks fails loudly (a 500 whose
 * cause, the field, is logged) instead of reaching clients undocumented, or being dropped
 * unseen. A lax schema is refused when its route is registered, naming the route and the
 * object: the OpenAPI at /docs, made from the same schemas, then describes every answer.
 */
export const replySerializerCompiler: FastifySerializerCompiler<z.core.$ZodType> = (route) => {
  const lax = laxObjectPaths(route.schema);
  if (lax.length > 0) {
    const where = lax.map((p) => (p === '' ? 'the answer itself' : p.slice(1))).join(', ');
    throw new Error(
      `the ${route.httpStatus} answer of ${route.method} ${route.url} has objects that let unknown fields through (${where}): declare them with z.strictObject`,
    );
  }
  return serializerCompiler(route);
};

/**
 * Checks every answer of the routes registered on `app` from now on against its schema: the
 * serializer above, and, on every route that declares its answers, the house's error body for
 * any status it does not name (a `default` answer in /docs too). So a route cannot answer a
 * success it does not declare either: that answer is not an error body, and fails.
 */
export function enforceReplySchemas(app: FastifyInstance): void {
  app.setSerializerCompiler(replySerializerCompiler);
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (response && response.default === undefined) response.default = errorBody;
  });
}
