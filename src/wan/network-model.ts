import { DomicileError } from '../errors/domicile-error.js';
import { backboneMs, type Figure, type Latency } from './latency-schema.js';

/**
 * What the network adds to one request, from a latency file's figures: round trips (a new
 * connection's handshakes, the request itself, and TCP slow start for a body larger than the
 * initial window) times the link's round-trip time, plus the bytes at the market's bandwidth.
 * Deliberately simple, so that every millisecond it adds can be read off the file: no loss,
 * no queueing, a congestion window that restarts per request (Linux's slow start after idle).
 */

export interface Link {
  rttMs: number;
  /** The users' connection speed; undefined: transfers cost round trips only. */
  mbps: number | undefined;
}

export interface Exchange {
  newConnection: boolean;
  requestBytes: number;
  responseBytes: number;
}

export interface NetworkTime {
  ms: number;
  roundTrips: number;
  /** Of ms, what the bytes take at the link's bandwidth (the part a nearer region does not shorten). */
  transferMs: number;
}

/** Extra round trips slow start needs to send `bytes`: the window starts at `initialWindow` and doubles each round trip. */
export function slowStartRounds(bytes: number, initialWindow: number): number {
  if (bytes <= initialWindow) return 0;
  return Math.ceil(Math.log2(bytes / initialWindow + 1)) - 1;
}

export function exchangeTime(model: Latency['model'], link: Link, ex: Exchange): NetworkTime {
  const roundTrips = (ex.newConnection ? model.handshakeRoundTrips : 0) + 1
    + slowStartRounds(ex.requestBytes, model.initialWindowBytes) + slowStartRounds(ex.responseBytes, model.initialWindowBytes);
  const transferMs = link.mbps === undefined ? 0 : ((ex.requestBytes + ex.responseBytes) * 8) / (link.mbps * 1000);
  return { ms: roundTrips * link.rttMs + transferMs, roundTrips, transferMs };
}

function marketOf(latency: Latency, market: string): Latency['markets'][string] & { access: Figure } {
  const m = latency.markets[market];
  if (!m) throw new DomicileError('BAD_REQUEST', `latency file ${latency.name} has no market ${market}; use one of: ${Object.keys(latency.markets).join(', ')}`, { details: { market } });
  if (!m.access) throw new DomicileError('BAD_REQUEST', `latency file ${latency.name} has no access round trip for market ${market} (no published figure): its users are not emulated`, { details: { market } });
  return { ...m, access: m.access };
}

function cityOf(latency: Latency, region: string): string {
  const r = latency.regions[region];
  if (!r) throw new DomicileError('BAD_REQUEST', `latency file ${latency.name} does not place region ${region} in a city: add regions.${region}.city`, { details: { region } });
  return r.city;
}

function backbone(latency: Latency, a: string, b: string): number {
  const ms = backboneMs(latency, a, b);
  if (ms === undefined) throw new DomicileError('BAD_REQUEST', `latency file ${latency.name} has no backbone round trip between ${a} and ${b}: add it under backbone, with its source`, { details: { cities: [a, b] } });
  return ms;
}

/** The link from a market's users to a region: their last mile, then the backbone from their city to the region's. */
export function regionLink(latency: Latency, market: string, region: string): Link {
  const m = marketOf(latency, market);
  return { rttMs: m.access.ms + backbone(latency, m.city, cityOf(latency, region)), mbps: m.bandwidth?.mbps };
}

/** The link from a market's users to their CDN edge, in their own city: their last mile. */
export function edgeLink(latency: Latency, market: string): Link {
  const m = marketOf(latency, market);
  return { rttMs: m.access.ms, mbps: m.bandwidth?.mbps };
}

/** The round trip between two regions (0 within one). */
export function betweenMs(latency: Latency, a: string, b: string): number {
  if (a === b) return 0;
  return backbone(latency, cityOf(latency, a), cityOf(latency, b));
}
