import { homeRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { Latency } from './latency-schema.js';
import { requireCoverage } from './load-latency.js';
import { betweenMs, edgeLink, type ModelConnection, regionLink } from './network-model.js';

/** Where the network time of one request went. */
export interface WanCharge {
  /** What added it all up: the network's share of the request's latency. */
  ms: number;
  /** 'edge', or the region whose servers answered. */
  servedBy: string;
  rttMs: number;
  roundTrips: number;
  transferMs: number;
  /** Round trips from the serving region to other regions the request reached. */
  onwardMs: number;
}

/**
 * The WAN a market's users see, from a latency file: a request answered by the edge cache
 * costs the round trips to the market's CDN edge; any other is answered by the servers of the
 * first region it reached (its data's home) and costs the round trips to that region, plus one
 * round trip between regions for each call onwards to another region. A request that reaches
 * no region (the catalog when not cached, static pages without a CDN) is answered by the
 * store's servers of the market: its `shop` home under the policy.
 */
export class WanEmulator {
  /** Refused (BAD_REQUEST naming each missing figure) unless the latency file (`file` names it) covers the policy. */
  constructor(
    readonly latency: Latency,
    readonly policy: Policy,
    file: string,
  ) {
    requireCoverage(latency, policy, file);
  }

  hasMarket(market: string): boolean {
    return Object.hasOwn(this.latency.markets, market);
  }

  /** What one request over `connection` costs; the connection's windows grow with it. */
  charge(
    market: string,
    served: 'edge' | readonly string[],
    connection: ModelConnection,
    requestBytes: number,
    responseBytes: number,
  ): WanCharge {
    if (served === 'edge') {
      const link = edgeLink(this.latency, market);
      return {
        ...connection.exchange(link, requestBytes, responseBytes),
        servedBy: 'edge',
        rttMs: link.rttMs,
        onwardMs: 0,
      };
    }
    const entry = served[0] ?? homeRegion(this.policy, market, 'shop');
    const link = regionLink(this.latency, market, entry);
    // Onward first: a figure missing for it must not leave the connection's windows grown.
    const onwardMs = served.slice(1).reduce((sum, region) => sum + betweenMs(this.latency, entry, region), 0);
    const time = connection.exchange(link, requestBytes, responseBytes);
    return {
      ms: time.ms + onwardMs,
      roundTrips: time.roundTrips,
      transferMs: time.transferMs,
      servedBy: entry,
      rttMs: link.rttMs,
      onwardMs,
    };
  }
}
