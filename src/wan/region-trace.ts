import { AsyncLocalStorage } from 'node:async_hooks';
import type { RegionClient } from '../region/region-client.js';

/**
 * Which regions a request reached, in order: the WAN emulation charges the round trip to the
 * first (where the request's servers are) and the trip onwards to each other one. Region
 * clients are traced only when the emulation runs; calls outside a traced request (a
 * migration's) are not counted.
 */
const trace = new AsyncLocalStorage<string[]>();

/** Runs fn (and everything it starts) recording the regions it calls into `regions`. */
export function withRegionTrace<T>(regions: string[], fn: () => T): T {
  return trace.run(regions, fn);
}

/** Runs fn (and everything it starts) outside any trace: background work a request only set going. */
export function outsideRegionTrace<T>(fn: () => T): T {
  return trace.exit(fn);
}

/** A region client that notes its region in the current trace on every call. */
export function tracedRegionClient(client: RegionClient, regionId: string): RegionClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        trace.getStore()?.push(regionId);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
