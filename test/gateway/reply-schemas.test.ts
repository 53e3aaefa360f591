import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { MigrationEngine } from '../../src/migrate/migration-engine.js';
import { auth, openTestPlatform, register, type TestPlatform } from '../support/test-platform.js';

/**
 * Issue 16: the gateway's response schemas are enforced by its serializer, so the OpenAPI at
 * /docs (made from the same schemas) cannot drift from the answers. An answer with a field its
 * schema lacks, of a wrong type, or of a status its route does not declare fails loudly: a 500
 * INTERNAL whose cause is logged; and a schema that would let an unknown field through is
 * refused when its route is registered.
 */

interface Logged {
  level: string;
  fields: Record<string, unknown>;
}

/** A request logger that keeps what is logged, for a route to use instead of the gateway's. */
function keepingLogger(lines: Logged[]): FastifyBaseLogger {
  const logger = {
    level: 'info',
    child: () => logger,
    ...Object.fromEntries(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => [
        level,
        (fields: unknown) => {
          lines.push({
            level,
            fields:
              typeof fields === 'object' && fields !== null ? (fields as Record<string, unknown>) : { msg: fields },
          });
        },
      ]),
    ),
  };
  return logger as unknown as FastifyBaseLogger;
}

/** JSON Schemas of every answer of an OpenAPI document: [where, schema]. */
function answerSchemas(doc: {
  paths: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
  >;
}): Array<[string, string, unknown]> {
  return Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.entries(operations).flatMap(([method, op]) =>
      Object.entries(op.responses ?? {}).flatMap(([status, response]) =>
        Object.entries(response.content ?? {}).map(
          ([type, { schema }]) =>
            [`${method.toUpperCase()} ${path} ${status} ${type}`, type, schema] as [string, string, unknown],
        ),
      ),
    ),
  );
}

/** Objects of a JSON Schema that take properties they do not name (an absent additionalProperties, or true, or {}). */
function openObjects(schema: unknown, at = ''): string[] {
  if (Array.isArray(schema)) return schema.flatMap((s, i) => openObjects(s, `${at}[${i}]`));
  if (typeof schema !== 'object' || schema === null) return [];
  const s = schema as Record<string, unknown>;
  const own =
    s.type === 'object' && s.properties !== undefined && s.additionalProperties !== false ? [at || '(the answer)'] : [];
  return [
    ...own,
    ...Object.entries(s).flatMap(([key, child]) =>
      key === 'properties' && typeof child === 'object' && child !== null
        ? Object.entries(child).flatMap(([name, c]) => openObjects(c, `${at}.${name}`))
        : typeof child === 'object'
          ? openObjects(child, `${at}/${key}`)
          : [],
    ),
  ];
}

describe('answers are checked against their schemas (issue 16)', () => {
  let t: TestPlatform;
  const logged: Logged[] = [];
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    // Routes built the way the gateway's are, whose handlers get their answers wrong.
    const app = t.app.withTypeProvider<ZodTypeProvider>();
    const useKeepingLogger = (request: { log: FastifyBaseLogger }, _reply: unknown, done: () => void) => {
      request.log = keepingLogger(logged);
      done();
    };
    const item = z.strictObject({ name: z.string(), size: z.number() });
    const declared = { 200: z.strictObject({ id: z.string(), items: z.array(item) }) };
    const answer = (extra: Record<string, unknown>, itemExtra: Record<string, unknown> = {}) => ({
      id: 'answer-id-x1',
      items: [{ name: 'a', size: 1, ...itemExtra }],
      ...extra,
    });
    app.get('/test/answers/right', { onRequest: useKeepingLogger, schema: { response: declared } }, async () =>
      answer({}),
    );
    // A field the schema lacks, at the top and inside an array: it carries what must not leak.
    app.get(
      '/test/answers/extra',
      { onRequest: useKeepingLogger, schema: { response: declared } },
      async () => answer({ secretHash: 'do-not-send' }) as never,
    );
    app.get(
      '/test/answers/nested-extra',
      { onRequest: useKeepingLogger, schema: { response: declared } },
      async () => answer({}, { owner: 'u_someone' }) as never,
    );
    app.get(
      '/test/answers/wrong-type',
      { onRequest: useKeepingLogger, schema: { response: declared } },
      async () => ({ id: 7, items: [] }) as never,
    );
    // A success the route does not declare (201 where it says 200; typed code cannot, hence the cast).
    app.get(
      '/test/answers/undeclared-status',
      { onRequest: useKeepingLogger, schema: { response: declared } },
      async (_request, reply) => reply.code(201 as 200).send(answer({})),
    );
  });
  afterAll(async () => t.close());

  it('sends an answer that matches its schema', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/answers/right' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ id: 'answer-id-x1', items: [{ name: 'a', size: 1 }] });
  });

  for (const [route, problem] of [
    ['extra', /^\(the answer\): Unrecognized key: "secretHash"$/],
    ['nested-extra', /^items\.0: Unrecognized key: "owner"$/],
    ['wrong-type', /^id: Invalid input: expected string, received number$/],
    ['undeclared-status', /^error: Invalid input: expected object, received undefined$/],
  ] as const) {
    it(`fails an answer (${route}) with 500 INTERNAL, the field it got wrong in the log and nothing of the answer in the body`, async () => {
      logged.length = 0;
      const res = await t.app.inject({ method: 'GET', url: `/test/answers/${route}` });
      expect(res.statusCode, res.body).toBe(500);
      const { error } = res.json() as { error: { code: string; message: string; requestId: string } };
      expect(error.code).toBe('INTERNAL');
      expect(error.message).toContain(error.requestId);
      expect(res.body).not.toMatch(/secretHash|do-not-send|owner|u_someone|answer-id-x1|FST_/);
      const failed = logged.find((l) => l.level === 'error');
      expect(failed?.fields.code).toBe('INTERNAL');
      expect(failed?.fields.problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
      // The log names the fields, never the values the answer held.
      expect(JSON.stringify(failed)).not.toMatch(/do-not-send|u_someone/);
    });
  }

  it('refuses to register a route whose answer lets a field through unseen (a plain or a loose object, however deep)', async () => {
    for (const [schema, where] of [
      [z.object({ id: z.string() }), /the answer itself/],
      [z.looseObject({}), /the answer itself/],
      [z.strictObject({ items: z.array(z.object({ id: z.string() })).optional() }), /\(items\[\]\)/],
      [
        z.strictObject({ byId: z.record(z.string(), z.strictObject({ at: z.object({}) }).nullable()) }),
        /\(byId\{\}\.at\)/,
      ],
      [z.union([z.strictObject({ a: z.string() }), z.object({ b: z.string() })]), /the answer itself/],
    ] as const) {
      const gateway: FastifyInstance = await buildGateway(t.platform);
      gateway.get('/test/lax', { schema: { response: { 200: schema } } }, async () => ({}));
      await expect(gateway.ready()).rejects.toThrow(where);
      await expect(gateway.ready()).rejects.toThrow(/GET \/test\/lax .*z\.strictObject/);
      await gateway.close().catch(() => {});
    }
  });
});

describe("the real gateway's route table (issue 16)", () => {
  let t: TestPlatform;
  let migrations: MigrationEngine;
  let app: FastifyInstance;
  beforeAll(async () => {
    t = await openTestPlatform('phase3');
    // As `domicile up` builds it, with every route the operator steers migrations through.
    migrations = await MigrationEngine.open({ host: t.platform, log: () => {} });
    app = await buildGateway(t.platform, { migrations });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await migrations.close();
    await t.close();
  });

  it('declares, for every route in /docs, its successes and the error body every other status answers', () => {
    const doc = app.swagger() as {
      paths: Record<
        string,
        Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
      >;
    };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ where: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(operations.length).toBeGreaterThan(50);
    const undeclared = operations
      .filter(({ op }) => !Object.keys(op.responses ?? {}).some((status) => /^2\d\d$/.test(status)))
      .map(({ where }) => where);
    expect(undeclared, 'routes that declare no success').toEqual([]);
    const noDefault = operations.filter(({ op }) => op.responses?.default === undefined).map(({ where }) => where);
    expect(noDefault, 'routes whose other statuses are not the error body').toEqual([]);
  });

  it('describes in /docs every JSON object an answer holds as closed: no field beyond those it names', () => {
    const schemas = answerSchemas(app.swagger() as Parameters<typeof answerSchemas>[0]);
    expect(schemas.length).toBeGreaterThan(150);
    const open = schemas
      .filter(([, type]) => type.startsWith('application/json'))
      .flatMap(([where, , schema]) => openObjects(schema).map((at) => `${where}: ${at}`));
    expect(open).toEqual([]);
  });

  // The CLI's routes that no other suite calls in process: their answers pass their schemas.
  it("answers the operator's data subject requests and residency-report records as declared", async () => {
    const operator = auth(t.platform.secrets.operatorToken);
    const user = await register(app, { email: 'schemas@example.com', password: 'correct-horse', market: 'IN' });
    await app.inject({
      method: 'PUT',
      url: '/v1/me/cloud/contacts/c-1',
      headers: auth(user.token),
      payload: { name: 'Ann' },
    });
    const exported = await app.inject({
      method: 'POST',
      url: '/v1/ops/dsar',
      headers: operator,
      payload: { userId: user.userId, kind: 'export' },
    });
    expect(exported.statusCode, exported.body).toBe(200);
    expect(exported.json()).toMatchObject({
      userId: user.userId,
      market: 'IN',
      homes: expect.any(Array),
      regions: expect.any(Array),
    });
    const report = await app.inject({
      method: 'POST',
      url: '/v1/ops/audit/in-mumbai/reports',
      headers: operator,
      payload: {
        type: 'residency-report',
        hash: 'a'.repeat(64),
        violations: 0,
        policy: { name: t.platform.policy.name, version: t.platform.policy.version },
      },
    });
    expect(report.statusCode, report.body).toBe(200);
    expect(report.json()).toEqual({ seq: expect.any(Number) });
    const erased = await app.inject({
      method: 'POST',
      url: '/v1/ops/dsar',
      headers: operator,
      payload: { userId: user.userId, kind: 'erase' },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toMatchObject({ userId: user.userId, kind: 'erase', state: 'completed' });
    const status = await app.inject({
      method: 'GET',
      url: `/v1/ops/dsar/${erased.json().id as string}`,
      headers: operator,
    });
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json()).toEqual(erased.json());
  });
});
