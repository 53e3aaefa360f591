import { DomicileError } from '../errors/domicile-error.js';

/**
 * Most values (names, numbers, lists, mappings) a policy sent over HTTP may hold: the 2014
 * scenario's largest holds about 300, so this is room for a much larger deployment, while a
 * check and a plan of the largest accepted take milliseconds, not the event loop's seconds.
 */
export const maxPolicyValues = 10_000;

/** Most market × service pairs the placement rules of a policy sent over HTTP may name, summed over rules. */
export const maxPlacementPairs = 100_000;

/**
 * Refuses (PAYLOAD_TOO_LARGE) a policy, as JSON before its schema is checked, that is larger
 * than an HTTP request may ask the gateway to check: the checks are linear in its size, but the
 * gateway's event loop serves everyone else meanwhile. A file of any size can be checked with
 * `domicile policy check`, which runs apart.
 */
export function checkPolicySize(value: unknown, what: string): void {
  let values = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (++values > maxPolicyValues) {
      throw new DomicileError(
        'PAYLOAD_TOO_LARGE',
        `${what} holds more than ${maxPolicyValues} values (names, numbers, lists and mappings), more than a request may ask to check; check it with \`domicile policy check FILE\` and send a smaller one`,
      );
    }
    if (Array.isArray(next)) pending.push(...next.slice(0, maxPolicyValues));
    else if (next !== null && typeof next === 'object') pending.push(...Object.values(next).slice(0, maxPolicyValues));
  }
  const rules = (value as { placement?: unknown } | null)?.placement;
  if (!Array.isArray(rules)) return;
  let pairs = 0;
  for (const rule of rules) {
    const { markets, services } = (rule ?? {}) as { markets?: unknown; services?: unknown };
    if (Array.isArray(markets) && Array.isArray(services)) pairs += markets.length * services.length;
  }
  if (pairs > maxPlacementPairs) {
    throw new DomicileError(
      'PAYLOAD_TOO_LARGE',
      `${what}'s placement rules name more than ${maxPlacementPairs} market × service pairs (${pairs}), more than a request may ask to check; write "*" for every market or service a rule means, and check it with \`domicile policy check FILE\``,
    );
  }
}
