import { setTimeout as sleep } from 'node:timers/promises';
import type { Directory, HomeEntry } from '../directory/directory.js';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import type { RegionClient, TenantRef } from '../region/region-client.js';

/**
 * What routing a request to its user's home needs of the platform: the directory, the platform's
 * cache of homes (keyed "userId\0service") and the live regions' clients. A Platform is one; the
 * shop, which the platform opens, routes through this without importing platform.ts back.
 */
export interface HomeRouting {
  readonly directory: Pick<Directory, 'home'>;
  readonly homeCache: {
    get(key: string): HomeEntry | undefined;
    set(key: string, home: HomeEntry): unknown;
    delete(key: string): unknown;
  };
  region(regionId: string): RegionClient;
}

/** How long a request keeps retrying while its user is fenced for a cut-over. */
const fencedRetryBudgetMs = 2_000;

/**
 * How long a request keeps following its user to a new home once a region first said the user
 * is not (or no longer) homed there. A re-route is always followed: a cut-over marks the
 * source moved right after the directory flips, but a directory read may still name the old
 * home for a while (another gateway finishing a deposed leader's cut-over, a standby behind its
 * primary), and a count of re-routes would give up in a few milliseconds. The deadline only
 * keeps a directory and regions that never agree from looping forever.
 */
const rerouteDeadlineMs = 10_000;

/** routeToHome's bounds (tests shorten them). */
export interface RouteBounds {
  fencedRetryBudgetMs?: number;
  rerouteDeadlineMs?: number;
}

/** The user's home for a service: from the platform's cache, else the directory (NOT_FOUND when none). */
export async function cachedHome(platform: HomeRouting, userId: string, service: string): Promise<HomeEntry> {
  const cacheKey = `${userId}\u0000${service}`;
  let home = platform.homeCache.get(cacheKey);
  if (!home) {
    home = await platform.directory.home(userId, service);
    if (!home)
      throw new DomicileError('NOT_FOUND', `user ${userId} has no home for service ${service}`, {
        details: { service },
      });
    platform.homeCache.set(cacheKey, home);
  }
  return home;
}

/**
 * The user's home for a service as the directory says now, refreshing the cache: for what must
 * name the home without a call to it that the home would refuse were it stale (the source
 * region of a crossing, audited before anything is written there).
 */
export async function currentHome(platform: HomeRouting, userId: string, service: string): Promise<HomeEntry> {
  platform.homeCache.delete(`${userId}\u0000${service}`);
  return cachedHome(platform, userId, service);
}

/**
 * Serves a request in the user's home region for a service. The directory (through a bounded
 * in-memory cache) says where the home is and at which epoch; the region checks that epoch against its own tenancy row, so a
 * request routed with a stale directory entry is refused (WRONG_REGION or STALE_EPOCH) and
 * re-routed here rather than answered from a stale copy. A user fenced for a cut-over is
 * retried with backoff for a bounded time: cut-overs last milliseconds. A re-route is followed
 * until the directory and the region agree, within rerouteDeadlineMs; a client never sees
 * WRONG_REGION or STALE_EPOCH (they speak of the platform's routing, not of the request): past
 * the deadline it is told UNAVAILABLE, to try again shortly.
 */
export async function routeToHome<T>(
  platform: HomeRouting,
  userId: string,
  service: string,
  call: (client: RegionClient, ref: TenantRef) => Promise<T>,
  bounds: RouteBounds = {},
): Promise<T> {
  const started = Date.now();
  const fencedBudget = bounds.fencedRetryBudgetMs ?? fencedRetryBudgetMs;
  const rerouteDeadline = bounds.rerouteDeadlineMs ?? rerouteDeadlineMs;
  const cacheKey = `${userId}\u0000${service}`;
  let delayMs = 1;
  // Re-routes have a clock of their own, started at the first: a request that waited out a
  // cut-over and then meets the source just marked moved still follows the user there.
  let reroutingSince: number | undefined;
  let reroutes = 0;
  for (;;) {
    // A cached home may be stale after a cut-over; the region then refuses the old epoch and
    // the entry is dropped below, so a stale entry costs a retry, never a stale answer.
    const home = await cachedHome(platform, userId, service);
    try {
      return await call(platform.region(home.region), { userId, service, epoch: home.epoch });
    } catch (err) {
      const rerouteable = isDomicileError(err, 'WRONG_REGION') || isDomicileError(err, 'STALE_EPOCH');
      const fenced = isDomicileError(err, 'FENCED');
      if (rerouteable || fenced || isDomicileError(err, 'UNAVAILABLE')) platform.homeCache.delete(cacheKey);
      if (rerouteable) {
        reroutingSince ??= Date.now();
        if (Date.now() - reroutingSince >= rerouteDeadline) {
          throw new DomicileError(
            'UNAVAILABLE',
            `the home of this user's ${service} data is moving, and the directory and the regions did not agree on it within ${rerouteDeadline} ms: try again in a few seconds`,
            { cause: err, details: { service, retryAfterSeconds: 1 } },
          );
        }
        reroutes++;
      } else if (!(fenced && Date.now() - started < fencedBudget)) {
        throw err;
      }
      // The first re-route goes at once (the directory has usually flipped already); the rest back off.
      if (fenced || reroutes > 1) {
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 50);
      }
    }
  }
}
