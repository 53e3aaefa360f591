import Fastify from 'fastify';

/**
 * The baseline of `domicile bench api`: a bare Fastify hello world, run as its own process
 * exactly like the gateway is, so both share the machine with the load generator alike.
 */
const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
// The flash-sale bench's requests, answered without any work, so its load generator drives both alike.
app.post('/v1/shop/sales/:saleId/claims', async (_request, reply) => reply.code(201).send({ hello: 'world' }));
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`listening http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
