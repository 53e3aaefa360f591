import { DomicileError } from '../errors/domicile-error.js';
import { backboneMs, type Figure, type Latency } from './latency-schema.js';

/**
 * What the network adds to each request of a connection, from a latency file's figures: a new
 * connection's handshakes, one round trip for the request and its answer, and for a body larger
 * than the congestion window, TCP slow start: the window doubles each round trip until it fills
 * the link (its bandwidth × round trip), and from then on the bytes go at the bandwidth. The
 * windows a connection has grown stay with it for its next requests (requests back to back are
 * never idle long enough for Linux to shrink them). Deliberately simple, so that every
 * millisecond can be read off the file: no loss, no queueing.
 */

export interface Link {
  rttMs: number;
  /** The users' connection speed; undefined: transfers cost round trips only. */
  mbps: number | undefined;
}

export interface NetworkTime {
  ms: number;
  roundTrips: number;
  /** Of ms, the bytes sent at the link's bandwidth once the window filled it (the part a nearer region does not shorten). */
  transferMs: number;
}

interface Sent {
  rounds: number;
  transferMs: number;
  window: number;
}

/**
 * Sending `bytes` with a congestion window of `window` bytes: the first window goes in the
 * exchange's own round trip, each further one (doubled) costs a round trip while the window is
 * smaller than the link holds, and what is left once it is not goes at the bandwidth.
 */
export function send(bytes: number, window: number, link: Link): Sent {
  const rate = link.mbps === undefined ? Infinity : (link.mbps * 1_000_000) / 8 / 1000; // bytes per ms
  const full = rate * link.rttMs;
  if (bytes <= 0) return { rounds: 0, transferMs: 0, window };
  if (window >= full) return { rounds: 0, transferMs: bytes / rate, window };
  let sent = Math.min(bytes, window);
  let w = window;
  let rounds = 0;
  while (sent < bytes && w < full) {
    w *= 2;
    sent += Math.min(w, bytes - sent);
    rounds += 1;
  }
  return { rounds, transferMs: sent < bytes ? (bytes - sent) / rate : 0, window: w };
}

/** One connection as the model sees it: open or not, and the congestion window of each direction. */
export class ModelConnection {
  private windows: { up: number; down: number } | undefined;

  constructor(private readonly model: Latency['model']) {}

  /** The time of one request and its answer over `link`; the connection opens on its first. */
  exchange(link: Link, requestBytes: number, responseBytes: number): NetworkTime {
    const opening = this.windows === undefined;
    const w = this.windows ?? { up: this.model.initialWindowBytes, down: this.model.initialWindowBytes };
    const up = send(requestBytes, w.up, link);
    const down = send(responseBytes, w.down, link);
    this.windows = { up: up.window, down: down.window };
    const roundTrips = (opening ? this.model.handshakeRoundTrips : 0) + 1 + up.rounds + down.rounds;
    const transferMs = up.transferMs + down.transferMs;
    return { ms: roundTrips * link.rttMs + transferMs, roundTrips, transferMs };
  }
}

function marketOf(latency: Latency, market: string): Latency['markets'][string] & { access: Figure } {
  const m = latency.markets[market];
  if (!m)
    throw new DomicileError(
      'BAD_REQUEST',
      `latency file ${latency.name} has no market ${market}; use one of: ${Object.keys(latency.markets).join(', ')}`,
      { details: { market } },
    );
  if (!m.access)
    throw new DomicileError(
      'BAD_REQUEST',
      `latency file ${latency.name} has no access round trip for market ${market} (no published figure): its users are not emulated`,
      { details: { market } },
    );
  return { ...m, access: m.access };
}

function cityOf(latency: Latency, region: string): string {
  const r = latency.regions[region];
  if (!r)
    throw new DomicileError(
      'BAD_REQUEST',
      `latency file ${latency.name} does not place region ${region} in a city: add regions.${region}.city`,
      { details: { region } },
    );
  return r.city;
}

function backbone(latency: Latency, a: string, b: string): number {
  const ms = backboneMs(latency, a, b);
  if (ms === undefined)
    throw new DomicileError(
      'BAD_REQUEST',
      `latency file ${latency.name} has no backbone round trip between ${a} and ${b}: add it under backbone, with its source`,
      { details: { cities: [a, b] } },
    );
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
