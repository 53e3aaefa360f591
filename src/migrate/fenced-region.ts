import { type Fence, fencedMethods, type RegionClient, type RegionMethod } from '../region/region-client.js';

/**
 * A region as a leading coordinator calls it for one migration: every migration primitive
 * carries the coordinator's fencing token (the contract's `fence`), the rest passes through.
 * A client made before the lead changed keeps its old token, which is the point: whatever a
 * deposed leader was doing with it is refused by the region (STALE_LEADER).
 */
export function fencedRegion(client: RegionClient, fence: Fence): RegionClient {
  const fenced = new Set<RegionMethod>(fencedMethods);
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !fenced.has(property as RegionMethod) || typeof value !== 'function')
        return value;
      return (req?: object) => (value as (req: object) => unknown).call(target, { ...req, fence });
    },
  });
}
