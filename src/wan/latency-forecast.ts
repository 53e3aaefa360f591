import { homeRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { Latency } from './latency-schema.js';
import { edgeLink, exchangeTime, regionLink, type Link } from './network-model.js';

/**
 * The three things a user does that the 2014 articles timed, as `domicile bench latency`
 * performs them and `domicile plan` forecasts them: the same requests, on the same connections.
 *
 * - store page: on a new connection to the store, its page (never cached: the store's servers
 *   answer); then at once, on that connection a static asset and the catalog (the CDN's, where
 *   there is one), and on a new connection to the API the user's cart (the shop's home);
 * - account request: a request on the app's open connection to Mi Account (its devices, read
 *   in the account's home);
 * - photo sync: on a new connection to Mi Cloud (its home), start an upload, send its chunks
 *   one after another, complete it.
 */
export const operations = ['store page', 'account request', 'photo sync'] as const;
export type Operation = (typeof operations)[number];

/** The service whose home region answers each operation (the store page's static content aside). */
export const serviceOf: Record<Operation, string> = { 'store page': 'shop', 'account request': 'account', 'photo sync': 'cloud' };

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
export function forecast(latency: Latency, policy: Policy, market: string, options: { cdn: boolean; sizes?: Sizes }): Record<Operation, number> {
  const s = options.sizes ?? defaultSizes;
  const { model } = latency;
  const home = (service: string): Link => regionLink(latency, market, homeRegion(policy, market, service));
  const time = (link: Link, newConnection: boolean, requestBytes: number, responseBytes: number): number =>
    exchangeTime(model, link, { newConnection, requestBytes, responseBytes }).ms;

  const store = home('shop');
  const statics = options.cdn ? edgeLink(latency, market) : store;
  const page = time(store, true, 0, s.pageBytes);
  const onPageConnection = time(statics, false, 0, s.assetBytes) + time(statics, false, 0, s.catalogBytes);
  const cart = time(store, true, 0, s.cartBytes);

  const cloud = home('cloud');
  const chunks = Math.ceil(s.photoBytes / s.chunkBytes);
  let photo = time(cloud, true, 200, 300) + time(cloud, false, 0, 300);
  for (let i = 0; i < chunks; i++) photo += time(cloud, false, Math.min(s.chunkBytes, s.photoBytes - i * s.chunkBytes), 50);

  return {
    'store page': page + Math.max(onPageConnection, cart),
    'account request': time(home('account'), false, 0, s.accountBytes),
    'photo sync': photo,
  };
}
