import type { Directory } from '../directory/directory.js';
import { homeRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';

/** One user's data of one service that moves, with the epoch the directory homes it at now. */
export interface MovingUser {
  service: string;
  userId: string;
  market: string;
  from: string;
  to: string;
  epoch: number;
}

const page = 1_000;

/**
 * Every user whose directory home for one of the services is not the home the policy gives,
 * in the order they will move: by service (in the order given), then route, market and user.
 * Read page by page, so memory holds the movers, not the whole directory at once.
 */
export async function listMovingUsers(
  directory: Directory,
  policy: Policy,
  services: readonly string[],
): Promise<MovingUser[]> {
  const movers: MovingUser[] = [];
  let after = '';
  for (;;) {
    const users = await directory.listUsers(after, page);
    for (const user of users) {
      for (const home of await directory.homes(user.userId)) {
        if (!services.includes(home.service)) continue;
        const to = homeRegion(policy, user.market, home.service);
        if (home.region !== to) {
          movers.push({
            service: home.service,
            userId: user.userId,
            market: user.market,
            from: home.region,
            to,
            epoch: home.epoch,
          });
        }
      }
    }
    const last = users.at(-1);
    if (!last || users.length < page) break;
    after = last.userId;
  }
  const order = (s: string) => services.indexOf(s);
  return movers.sort(
    (a, b) =>
      order(a.service) - order(b.service) ||
      a.from.localeCompare(b.from) ||
      a.to.localeCompare(b.to) ||
      a.market.localeCompare(b.market) ||
      a.userId.localeCompare(b.userId),
  );
}
