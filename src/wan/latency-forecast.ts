import { homeRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { Latency } from './latency-schema.js';
import { edgeLink, type Link, ModelConnection, regionLink } from './network-model.js';

/**
 * The three things a user does that the 2014 articles timed, as `domicile bench latency`
 * performs them and `domicile plan` forecasts them: the same requests, on the same connections.
 *
 * - store page: on a new connection to the store, its page (never cached: the store's servers
 *   answer); then at once a static asset and the catalog (on a new connection to the CDN's edge
 *   where there is a CDN, else on the page's connection), and on a new connection to the API
 *   the user's cart (the shop's home);
 * - account request: a request on the app's open connection to Mi Account (its devices, read
 *   in the account's home);
 * - photo sync: on a new connection to Mi Cloud (its home), start an upload, send its chunks
 *   one after another, complete it.
 */
export const operations = ['store page', 'account request', 'photo sync'] as const;
export type Operation = (typeof operations)[number];

/** The service whose home region answers each operation (the store page's static content aside). */
export const serviceOf: Record<Operation, string> = {
  'store page': 'shop',
  'account request': 'account',
  'photo sync': 'cloud',
};

/** Sizes the forecast assumes; the bench uses the real ones. */
export interface Sizes {
  pageBytes: number;
  assetBytes: number;
  catalogBytes: number;
  cartBytes: number;
  accountBytes: number;
  photoBytes: number;
  chunkBytes: number;
}

export const defaultSizes: Sizes = {
  pageBytes: 1_000,
  assetBytes: 150_000,
  catalogBytes: 2_000,
  cartBytes: 500,
  accountBytes: 500,
  photoBytes: 2 * 1024 * 1024,
  chunkBytes: 512 * 1024,
};

/** The network time of each operation for a market's users under a policy (no server time), in ms. */
export function forecast(
  latency: Latency,
  policy: Policy,
  market: string,
  options: { cdn: boolean; sizes?: Sizes },
): Record<Operation, number> {
  const s = options.sizes ?? defaultSizes;
  const connection = () => new ModelConnection(latency.model);
  const home = (service: string): Link => regionLink(latency, market, homeRegion(policy, market, service));

  // Store page: the page, then at once static content and the cart. With a CDN the static content
  // comes from the edge on a connection of its own; without, from the store on the page's.
  const store = home('shop');
  const pageConnection = connection();
  const page = pageConnection.exchange(store, 0, s.pageBytes).ms;
  const statics = options.cdn
    ? { link: edgeLink(latency, market), on: connection() }
    : { link: store, on: pageConnection };
  const staticContent =
    statics.on.exchange(statics.link, 0, s.assetBytes).ms + statics.on.exchange(statics.link, 0, s.catalogBytes).ms;
  const cart = connection().exchange(store, 0, s.cartBytes).ms;

  // Account request: on a connection the app opened before (untimed).
  const account = home('account');
  const app = connection();
  app.exchange(account, 0, s.accountBytes);

  // Photo sync: start, the chunks one after another, complete, on one new connection.
  const cloud = home('cloud');
  const sync = connection();
  let photo = sync.exchange(cloud, 200, 300).ms;
  for (let sent = 0; sent < s.photoBytes; sent += s.chunkBytes)
    photo += sync.exchange(cloud, Math.min(s.chunkBytes, s.photoBytes - sent), 50).ms;
  photo += sync.exchange(cloud, 0, 300).ms;

  return {
    'store page': page + Math.max(staticContent, cart),
    'account request': app.exchange(account, 0, s.accountBytes).ms,
    'photo sync': photo,
  };
}
