import { isIP } from 'node:net';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * Checks a list of trusted proxies (addresses or CIDR ranges) before Fastify sees it: an
 * invalid one would otherwise fail deep inside proxy-addr with a bare TypeError.
 */
export function checkTrustedProxies(entries: readonly string[], what = 'trustProxy'): string[] {
  return entries.map((entry) => {
    const [address = '', prefix, ...rest] = entry.trim().split('/');
    const family = isIP(address);
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || rest.length > 0) {
      throw new DomicileError(
        'BAD_REQUEST',
        `${what}: "${entry}" is not an IP address or CIDR range (for example 10.0.0.0/8 or 203.0.113.7)`,
      );
    }
    return entry.trim();
  });
}
