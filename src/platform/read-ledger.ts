import { type ConsentLedger, servicesNeeding } from '../consent/consent-ledger.js';
import type { Platform } from './platform.js';
import { routeToHome } from './route-to-home.js';

/**
 * The user's ledger of a purpose, from the home region of `service` (by default the first
 * service whose categories need the purpose): an empty history when never answered.
 */
export async function readLedger(
  platform: Platform,
  userId: string,
  purpose: string,
  service = servicesNeeding(platform.policy, purpose)[0],
): Promise<ConsentLedger> {
  const ledgers = await routeToHome(platform, userId, service!, (client, ref) => client.readConsents(ref));
  return ledgers.find((l) => l.purpose === purpose) ?? { purpose, history: [] };
}
