import { normaliseEmail, normalisePhone } from '../../crypto/blind-index.js';
import { passwordChecks, verifyNoPassword } from '../../crypto/password.js';
import type { HomeEntry } from '../../directory/directory.js';
import { DomicileError } from '../../errors/domicile-error.js';
import type { Platform } from '../../platform/platform.js';
import { routeToHome } from '../../platform/route-to-home.js';
import { isIsoCountryCode } from '../../policy/iso-countries.js';
import { homeRegion, serviceIds } from '../../policy/placement.js';
import { newId } from '../../shared/new-id.js';
import { discoveryHash, discoveryLogin } from '../messaging/contact-discovery.js';

/**
 * Mi Account: registration, login and devices. A session is a device: revoking it ends
 * every token issued to that device at once (the gateway checks the session per request).
 */

export interface Registration {
  phone?: string | undefined;
  email?: string | undefined;
  password: string;
  market: string;
  device?: string | undefined;
}

export interface Credentials {
  phone?: string | undefined;
  email?: string | undefined;
  password: string;
  device?: string | undefined;
}

export interface Device {
  sessionId: string;
  label: string | null;
  createdAt: number;
  revokedAt: number | null;
}

const deviceCollection = 'device';

/** The blind indexes of the phone and e-mail given (BAD_REQUEST when neither is); the gateway throttles by them. */
export function loginIndexes(platform: Platform, phone: string | undefined, email: string | undefined): string[] {
  const logins: string[] = [];
  if (phone !== undefined) logins.push(platform.blindIndex.phone(phone));
  if (email !== undefined) logins.push(platform.blindIndex.email(email));
  if (logins.length === 0) {
    throw new DomicileError(
      'BAD_REQUEST',
      'give a phone (E.164, for example +6591234567) or an email to register or log in',
    );
  }
  return logins;
}

/**
 * The blind index of the one identifier a login names (BAD_REQUEST for neither or both: the
 * API takes `phone|email`). One, so that the identifier counted, checked and reset by the
 * throttle is the one whose account the password was checked against: a body naming a
 * victim's e-mail beside the caller's own phone would otherwise reset the victim's count.
 */
export function loginIndex(platform: Platform, phone: string | undefined, email: string | undefined): string {
  if (phone !== undefined && email !== undefined) {
    throw new DomicileError('BAD_REQUEST', 'log in with a phone or an email, not both', {
      details: { field: 'email' },
    });
  }
  const [index] = loginIndexes(platform, phone, email);
  if (index === undefined)
    throw new DomicileError('BAD_REQUEST', 'give a phone (E.164, for example +6591234567) or an email to log in');
  return index;
}

/** Creates the user in every service's home region, then a first session. */
export async function registerAccount(
  platform: Platform,
  reg: Registration,
): Promise<{ userId: string; sessionId: string }> {
  const { policy, directory } = platform;
  if (!isIsoCountryCode(reg.market)) {
    throw new DomicileError(
      'BAD_REQUEST',
      `market "${reg.market}" is not an assigned ISO 3166-1 alpha-2 country code: give the user's country, for example IN`,
    );
  }
  const logins = loginIndexes(platform, reg.phone, reg.email);
  passwordChecks.admit();
  // A number is discoverable by the phones that have it in their address book (contact-discovery.ts).
  if (reg.phone !== undefined)
    logins.push(
      discoveryLogin(
        platform.secrets.indexKey,
        discoveryHash(platform.secrets.discoveryKey, normalisePhone(reg.phone)),
      ),
    );
  // Every service must have an active home before anything is written: never a partial user.
  const homes: HomeEntry[] = serviceIds(policy).map((service) => ({
    service,
    region: homeRegion(policy, reg.market, service),
    epoch: 1,
  }));
  const userId = newId('u');
  await directory.createUser({ userId, market: reg.market, logins, homes, createdAt: Date.now() });
  const opened = new Set<string>();
  try {
    for (const home of homes) {
      // Counted before the call: a tenancy whose answer was lost may still have been opened.
      opened.add(home.region);
      await platform
        .region(home.region)
        .openTenancy({ userId, service: home.service, epoch: home.epoch, market: reg.market });
    }
    await routeToHome(platform, userId, 'account', (client, ref) =>
      client.setCredentials({
        ...ref,
        password: reg.password,
        ...(reg.phone ? { phone: normalisePhone(reg.phone) } : {}),
        ...(reg.email ? { email: normaliseEmail(reg.email) } : {}),
      }),
    );
  } catch (err) {
    return undoRegistration(platform, userId, opened, err);
  }
  const sessionId = await openSession(platform, userId, reg.device);
  return { userId, sessionId };
}

/**
 * Compensates a registration refused halfway (the password queue full under a flood, a region
 * unreachable): the tenancies opened go (erased as a data subject request of the user's own,
 * which every region already knows how to do and audits), then the directory entry, so the
 * logins can be registered again. Left, the tenancies named a user who does not exist in every
 * service's region for good. The caller gets the original refusal, or UNAVAILABLE naming the
 * regions that could not be cleaned up (the refusal and their failures as its cause).
 */
async function undoRegistration(
  platform: Platform,
  userId: string,
  regions: ReadonlySet<string>,
  refusal: unknown,
): Promise<never> {
  const failed: string[] = [];
  const causes: unknown[] = [refusal];
  for (const region of regions) {
    try {
      await platform.region(region).eraseUser({ userId, request: `registration-undone-${userId}` });
    } catch (err) {
      failed.push(region);
      causes.push(err);
    }
  }
  await platform.directory.deleteUser(userId);
  if (failed.length === 0) throw refusal;
  throw new DomicileError(
    'UNAVAILABLE',
    `the registration failed and could not be undone in region ${failed.join(', region ')}: try again later`,
    {
      cause: new AggregateError(causes, 'registration refused, then its tenancies not erased'),
    },
  );
}

/** Checks the password in the user's home region; the same error for an unknown login. */
export async function login(platform: Platform, creds: Credentials): Promise<{ userId: string; sessionId: string }> {
  const index = loginIndex(platform, creds.phone, creds.email);
  // Under a flood the hashing queue is full: refuse before the directory and the region are read for nothing.
  passwordChecks.admit();
  const userId = await platform.directory.findByLogin(index);
  // An unknown login costs what a wrong password costs (a scrypt through the same bound):
  // answering it faster would tell who has an account.
  const ok =
    userId === undefined
      ? await verifyNoPassword(creds.password)
      : await routeToHome(platform, userId, 'account', (client, ref) =>
          client.verifyPassword({ ...ref, password: creds.password }),
        );
  if (!ok || userId === undefined) {
    throw new DomicileError('UNAUTHENTICATED', 'wrong login or password');
  }
  const sessionId = await openSession(platform, userId, creds.device);
  return { userId, sessionId };
}

async function openSession(platform: Platform, userId: string, device: string | undefined): Promise<string> {
  const sessionId = newId('s');
  const createdAt = Date.now();
  await platform.directory.createSession({ sessionId, userId, createdAt });
  // The device's name is personal data: it rests encrypted in the account's home region.
  await routeToHome(platform, userId, 'account', (client, ref) =>
    client.putRecord({
      ...ref,
      collection: deviceCollection,
      key: sessionId,
      value: { label: device ?? null, createdAt },
    }),
  );
  return sessionId;
}

export async function listDevices(platform: Platform, userId: string): Promise<Device[]> {
  const sessions = await platform.directory.listSessions(userId);
  const records = await routeToHome(platform, userId, 'account', (client, ref) =>
    client.listRecords({ ...ref, collection: deviceCollection }),
  );
  const labels = new Map(records.map((r) => [r.key, (r.value as { label?: unknown } | null)?.label]));
  return sessions.map((s) => {
    const label = labels.get(s.sessionId);
    return {
      sessionId: s.sessionId,
      label: typeof label === 'string' ? label : null,
      createdAt: s.createdAt,
      revokedAt: s.revokedAt,
    };
  });
}

export async function revokeDevice(platform: Platform, userId: string, sessionId: string): Promise<void> {
  const revoked = await platform.directory.revokeSession(userId, sessionId, Date.now());
  if (!revoked) {
    throw new DomicileError(
      'NOT_FOUND',
      `no active device ${sessionId} on this account: list them with GET /v1/me/devices`,
    );
  }
}
