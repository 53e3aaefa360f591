import { z } from 'zod';

/**
 * An ISO 3166-1 alpha-2 code in capitals (the form only; whether the code is assigned is the
 * policy check's), written once for every field that takes one: a policy's markets and region
 * locations, the latency model, a registration, a region's tenancies.
 */
export function countryCode(what: string) {
  const message = `${what} is an ISO 3166-1 alpha-2 country code in capitals, for example IN`;
  return z.string({ error: message }).regex(countryCodeForm, message);
}

export const countryCodeForm = /^[A-Z]{2}$/;
