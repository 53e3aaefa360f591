import { DomicileError } from '../errors/domicile-error.js';

/**
 * A user's login credentials rest in their home region like any record: sealed, in the
 * reserved collection `_credentials` of the account service, under the key of the account's
 * identity category (so erasing identity erases them too). The records API refuses the
 * reserved collection; only setCredentials and verifyPassword reach it, and the hash never
 * leaves the region.
 */
export const credentialsService = 'account';
export const credentialsCategory = 'identity';
export const credentialsCollection = '_credentials';
export const credentialsKey = 'login';

export interface StoredCredentials {
  phone?: string;
  email?: string;
  passwordHash: string;
}

export function checkCredentialsService(service: string): void {
  if (service !== credentialsService) {
    throw new DomicileError('BAD_REQUEST', `credentials belong to service ${credentialsService}, not ${service}`, {
      details: { field: 'service' },
    });
  }
}

/** Reads a decrypted credentials value; INTEGRITY if it is not what setCredentials writes. */
export function parseCredentials(value: unknown): StoredCredentials {
  const v = value as Partial<Record<keyof StoredCredentials, unknown>> | null;
  const ok =
    v !== null &&
    typeof v === 'object' &&
    typeof v.passwordHash === 'string' &&
    (v.phone === undefined || typeof v.phone === 'string') &&
    (v.email === undefined || typeof v.email === 'string');
  if (!ok) throw new DomicileError('INTEGRITY', 'stored credentials are not in the expected shape');
  const creds: StoredCredentials = { passwordHash: v.passwordHash as string };
  if (typeof v.phone === 'string') creds.phone = v.phone;
  if (typeof v.email === 'string') creds.email = v.email;
  return creds;
}
