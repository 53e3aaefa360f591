import { createHmac } from 'node:crypto';
import { findPurpose, grantsNow } from '../../consent/consent-ledger.js';
import { DomicileError } from '../../errors/domicile-error.js';
import type { Platform } from '../../platform/platform.js';
import { readLedger } from '../../platform/read-ledger.js';
import { findCategory } from '../../policy/placement.js';

/**
 * Contact discovery ("which of my contacts use the service"), the 2014 flaw done right: the
 * phone never sends its address book. It hashes each contact's number with the service's
 * discovery key (HMAC-SHA256 of this prefix and the E.164 number) and sends the hashes; the
 * gateway looks each one up among the entries registered users' numbers were given at sign-up,
 * answers with the matches, and keeps nothing. It refuses unless the user granted the purpose
 * the policy puts on the address book (contact-discovery in the scenario), and past a daily
 * allowance per user, so that nobody walks the numbering plan through it.
 */
const discoveryPrefix = 'domicile/discovery/v1\u0000';

/** What a phone computes for one contact (`phone`: E.164, as the blind index normalises it). */
export function discoveryHash(discoveryKey: string, phoneE164: string): string {
  return createHmac('sha256', Buffer.from(discoveryKey, 'base64url'))
    .update(`${discoveryPrefix}${phoneE164}`, 'utf8')
    .digest('base64url');
}

/**
 * The directory's entry that makes a number discoverable: the phone's hash keyed again with the
 * platform's secret index key. Phones know the discovery key, so its hashes alone could be
 * reversed by trying every number; a copy of the directory could not, without the index key.
 * Its prefix keeps it apart from login indexes.
 */
export function discoveryLogin(indexKey: string, hash: string): string {
  return `d.${createHmac('sha256', indexKey).update(`domicile/discovery-entry/v1\u0000${hash}`, 'utf8').digest('base64url')}`;
}

/** The purpose contact discovery needs: the one on the messaging service's address book. */
function discoveryPurpose(platform: Platform): string | undefined {
  return findCategory(platform.policy, 'messaging', 'address-book')?.consent;
}

/** What a phone needs to hash its contacts. Not a secret of the users: every phone of the service has it. */
export function discoveryParameters(platform: Platform): {
  algorithm: 'HMAC-SHA256';
  key: string;
  message: string;
  encoding: 'base64url';
  purpose: string | null;
} {
  return {
    algorithm: 'HMAC-SHA256',
    key: platform.secrets.discoveryKey,
    message: 'domicile/discovery/v1, a NUL byte, then the number in E.164 (+919812345678)',
    encoding: 'base64url',
    purpose: discoveryPurpose(platform) ?? null,
  };
}

export const maxDiscoveryHashes = 5_000;

/** Hashes one user may look up per day, on one gateway: an address book, not the whole numbering plan. */
const discoveryHashesPerDay = 20_000;
const dayMs = 24 * 3600 * 1000;
const spent = new Map<string, { since: number; hashes: number }>();

/** Counts lookups against the user's daily allowance; RATE_LIMITED beyond it. */
function spend(userId: string, hashes: number): void {
  const now = Date.now();
  // Oldest first (a user's entry keeps its place), so the expired ones are at the front.
  for (const [id, s] of spent) {
    if (now - s.since < dayMs) break;
    spent.delete(id);
  }
  const mine = spent.get(userId) ?? { since: now, hashes: 0 };
  if (mine.hashes + hashes > discoveryHashesPerDay) {
    const retryAfterSeconds = Math.ceil((mine.since + dayMs - now) / 1000);
    throw new DomicileError(
      'RATE_LIMITED',
      `contact discovery (and messages addressed by phone number) look up at most ${discoveryHashesPerDay} numbers a day per user; try again in ${Math.ceil(retryAfterSeconds / 3600)} h`,
      { details: { retryAfterSeconds } },
    );
  }
  mine.hashes += hashes;
  spent.set(userId, mine);
}

/**
 * Refuses (before any lookup) unless the user may find `lookups` users by phone number now, and
 * counts them against the day's allowance: the purpose on the address book granted
 * (CONSENT_REQUIRED), within the allowance (RATE_LIMITED). Contact discovery and a message
 * addressed by phone number both pass here, so neither tells who uses the service beyond what
 * the other would: the address-book lookup of 2014 has no side door.
 */
export async function spendDiscovery(
  platform: Platform,
  userId: string,
  lookups: number,
  what = 'contact discovery',
): Promise<void> {
  const category = findCategory(platform.policy, 'messaging', 'address-book');
  if (!category) {
    throw new DomicileError(
      'NOT_FOUND',
      `policy "${platform.policy.name}" offers no contact discovery (no messaging address-book category), so no ${what}`,
    );
  }
  const purposeId = category.consent;
  if (purposeId) {
    const purpose = findPurpose(platform.policy, purposeId);
    // Read where it is enforced: the messaging home.
    if (!purpose || !grantsNow(await readLedger(platform, userId, purposeId, 'messaging'), purpose)) {
      throw new DomicileError(
        'CONSENT_REQUIRED',
        `${what} needs your consent to "${purposeId}": grant it with PUT /v1/me/consents/${purposeId}`,
        { details: { purpose: purposeId } },
      );
    }
  }
  spend(userId, lookups);
}

/** The matches among a user's hashed contacts: user ids of the service's users, never numbers. */
export async function discoverContacts(
  platform: Platform,
  userId: string,
  hashes: readonly string[],
): Promise<Array<{ hash: string; userId: string }>> {
  const unique = [...new Set(hashes)];
  await spendDiscovery(platform, userId, unique.length);
  const matches: Array<{ hash: string; userId: string }> = [];
  for (const hash of unique) {
    const found = await platform.directory.findByLogin(discoveryLogin(platform.secrets.indexKey, hash));
    if (found && found !== userId) matches.push({ hash, userId: found });
  }
  return matches;
}
