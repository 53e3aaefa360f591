import { AsyncResource } from 'node:async_hooks';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { DomicileError } from '../errors/domicile-error.js';
import { ModelConnection } from '../wan/network-model.js';
import { withRegionTrace } from '../wan/region-trace.js';
import type { WanEmulator } from '../wan/wan-emulator.js';

/** The header a synthetic client names its market with; requests without it are not delayed. */
export const clientMarketHeader = 'x-domicile-client-market';

interface WanRequest {
  market: string;
  regions: string[];
  /** The model of the request's connection (its handshakes paid or not, its windows). */
  connection: ModelConnection;
  /** The trace's async scope, entered again once the body is read (a stream's events run outside it). */
  scope: AsyncResource | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    wan: WanRequest | undefined;
  }
}

/**
 * The WAN emulation mode (`domicile up --emulate-wan FILE`): each response to a request that
 * names its client's market is held back for as long as the network between that market and
 * whoever answered would have taken (see wan-emulator.ts), so that what a client measures
 * follows placement. The first request on a connection pays the handshakes, and a connection's
 * congestion windows grow over its requests (network-model.ts). Every delayed
 * response says what it was charged: `x-domicile-wan` (milliseconds, served by, round trips).
 * Registered before the edge cache, so that a cache hit is charged to the edge.
 */
export function registerWanEmulation(app: FastifyInstance, wan: WanEmulator): void {
  const connections = new WeakMap<Socket, ModelConnection>();
  app.decorateRequest('wan', undefined);

  app.addHook('onRequest', (request, _reply, done) => {
    const market = request.headers[clientMarketHeader];
    if (market === undefined) return done();
    if (typeof market !== 'string' || !wan.hasMarket(market)) {
      const known = Object.keys(wan.latency.markets).join(', ');
      // To the gateway's one error mapping.
      done(
        new DomicileError(
          'BAD_REQUEST',
          `${clientMarketHeader} names "${String(market)}", a market the latency file ${wan.latency.name} does not list; use one of: ${known}`,
        ),
      );
      return;
    }
    const socket = request.raw.socket;
    let connection = connections.get(socket);
    if (!connection) connections.set(socket, (connection = new ModelConnection(wan.latency.model)));
    const regions: string[] = [];
    const w: WanRequest = { market, regions, connection, scope: undefined };
    request.wan = w;
    // Everything the request does from here on runs inside its trace.
    withRegionTrace(regions, () => {
      w.scope = new AsyncResource('domicile-wan');
      done();
    });
  });

  app.addHook('preValidation', (request, _reply, done) => {
    const scope = request.wan?.scope;
    if (!scope) return done();
    scope.runInAsyncScope(done);
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    const w = request.wan;
    if (!w) return done(null, payload);
    const responseBytes =
      typeof payload === 'string'
        ? Buffer.byteLength(payload)
        : Buffer.isBuffer(payload)
          ? payload.length
          : Number(reply.getHeader('content-length') ?? 0);
    const requestBytes = Number(request.headers['content-length'] ?? 0);
    let charge: ReturnType<WanEmulator['charge']>;
    try {
      charge = wan.charge(
        w.market,
        reply.getHeader('x-cache') === 'HIT' ? 'edge' : w.regions,
        w.connection,
        requestBytes,
        responseBytes,
      );
    } catch (err) {
      // A figure the file lacks for where the request went: said on the response, not a failed request.
      void reply.header('x-domicile-wan', `unknown: ${(err as Error).message}`);
      return done(null, payload);
    }
    void reply.header(
      'x-domicile-wan',
      `ms=${charge.ms.toFixed(1)}; served-by=${charge.servedBy}; rtt=${charge.rttMs}; round-trips=${charge.roundTrips}; transfer-ms=${charge.transferMs.toFixed(1)}; onward-ms=${charge.onwardMs}`,
    );
    // Whole milliseconds, rounded up: a timer never waits less than it is asked, so the client never sees less than the charge.
    setTimeout(() => done(null, payload), Math.ceil(charge.ms));
  });
}
