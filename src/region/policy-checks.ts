import { consentCollection, gatedCategories } from '../consent/consent-ledger.js';
import { findCategory, findRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { TenancyStatus } from '../store/region-store.js';
import { credentialsCategory, credentialsCollection, credentialsKey, credentialsService } from './credentials.js';
import type { RegionRequest, TenancyChange } from './region-client.js';
import { badRequest, idField, parseField, recordKey } from './region-fields.js';

/**
 * What a node checks of a request after its method's schema (region-client.ts): whatever depends
 * on the policy the region runs (the services it names, their collections, its regions), which a
 * schema cannot know. Run in the node, so the in-process and HTTP clients refuse alike.
 */

export function checkService(policy: Policy, service: string): string {
  if (!policy.services.some((s) => s.id === service)) {
    throw badRequest(
      'service',
      `service "${service}" is not in policy "${policy.name}"; use one of: ${policy.services.map((s) => s.id).join(', ')}`,
    );
  }
  return service;
}

/** A collection is a category of the service in the policy; names starting with "_" are reserved. */
export function checkCollection(policy: Policy, service: string, collection: string): string {
  if (collection.startsWith('_') || !findCategory(policy, service, collection)) {
    const allowed = policy.services.find((s) => s.id === service)?.categories.map((c) => c.id) ?? [];
    const reserved = collection.startsWith('_') ? ' (names starting with "_" are reserved)' : '';
    throw badRequest(
      'collection',
      `collection "${collection}" is not a category of service ${service}${reserved}; use one of: ${allowed.join(', ')}`,
    );
  }
  return collection;
}

export interface CheckedRef {
  collection: string;
  key: string;
  category: string;
}

const collectionName = idField('collection', 63);

/**
 * The category whose key seals a moved record: the collection itself, or for the reserved
 * credentials record (which must move with the account service, or its users could not log
 * in at the destination) the identity category, as setCredentials seals it.
 */
export function movedCategory(policy: Policy, service: string, collection: unknown, key: unknown): CheckedRef {
  if (service === credentialsService && collection === credentialsCollection) {
    if (key !== credentialsKey)
      throw badRequest('key', `the ${credentialsCollection} collection holds only the key "${credentialsKey}"`);
    return { collection: credentialsCollection, key: credentialsKey, category: credentialsCategory };
  }
  // A consent ledger moves with the service whose categories need its purpose, sealed under a key of its own.
  if (collection === consentCollection) {
    if (typeof key !== 'string' || gatedCategories(policy, service, key).length === 0) {
      throw badRequest(
        'key',
        `the ${consentCollection} collection of service ${service} holds one record per purpose that gates one of its categories; "${String(key)}" is none`,
      );
    }
    return { collection: consentCollection, key, category: consentCollection };
  }
  const checked = checkCollection(policy, service, parseField(collectionName, collection, 'collection'));
  return { collection: checked, key: parseField(recordKey, key, 'key'), category: checked };
}

/** The category of a record already in the store (its collection, identity for credentials; a consent ledger's is its own). */
export function storedCategory(collection: string): string {
  return collection === credentialsCollection ? credentialsCategory : collection;
}

export interface CheckedMovedRecord extends CheckedRef {
  version: number;
  updatedAt: number;
  value: unknown;
}

/** A batch's records and deletions, each named once, with the category that seals it. */
export function checkStates(
  policy: Policy,
  service: string,
  states: RegionRequest<'importUsers'>['users'][number]['states'],
): { records: CheckedMovedRecord[]; deleted: CheckedRef[] } {
  const records = states.records.map((r) => ({
    ...movedCategory(policy, service, r.collection, r.key),
    version: r.version,
    updatedAt: r.updatedAt,
    value: r.value,
  }));
  const deleted = states.deleted.map((r) => movedCategory(policy, service, r.collection, r.key));
  // A record named twice has no single state to end in.
  // The names were checked: no control characters, so NUL separates them unambiguously.
  const seen = new Set<string>();
  for (const r of [...records, ...deleted]) {
    const name = `${r.collection}\u0000${r.key}`;
    if (seen.has(name)) throw badRequest('states', `states names record ${service}/${r.collection}/${r.key} twice`);
    seen.add(name);
  }
  return { records, deleted };
}

/** movedTo names where a 'moved' user went: a region of the policy other than this one; null otherwise. */
export function checkMovedTo(
  policy: Policy,
  regionId: string,
  status: TenancyStatus,
  value: string | null | undefined,
): string | null {
  if (status !== 'moved') {
    if (value !== null && value !== undefined)
      throw badRequest('movedTo', `movedTo is null unless status is moved (status: ${status})`);
    return null;
  }
  if (value === null || value === undefined)
    throw badRequest('movedTo', 'movedTo is required when status is moved: the region the user went to');
  const movedTo = parseField(idField('movedTo', 63), value, 'movedTo');
  if (!findRegion(policy, movedTo)) {
    throw badRequest(
      'movedTo',
      `movedTo "${movedTo}" is not a region of policy "${policy.name}"; use one of: ${policy.regions.map((r) => r.id).join(', ')}`,
    );
  }
  if (movedTo === regionId) throw badRequest('movedTo', `a user cannot have moved from region ${regionId} to itself`);
  return movedTo;
}

/** setTenancies' tenancies, with where 'moved' users went checked against the policy. */
export function checkTenancyChanges(
  policy: Policy,
  regionId: string,
  tenancies: ReadonlyArray<Omit<TenancyChange, 'movedTo'> & { movedTo?: string | null | undefined }>,
): TenancyChange[] {
  return tenancies.map((t) => ({
    userId: t.userId,
    market: t.market,
    epoch: t.epoch,
    status: t.status,
    movedTo: checkMovedTo(policy, regionId, t.status, t.movedTo),
  }));
}

/** Only events the caller answers for (a migration's transfers, deliveries, a report it issued) are recorded on its word. */
export function checkCallerEvents<E extends { event: { type: string } }>(events: E[]): E[] {
  for (const { event } of events) {
    // The region records its own consent decisions, shreds, requests and policy: from outside,
    // anything else could forge evidence.
    if (event.type !== 'transfer' && event.type !== 'residency-report' && event.type !== 'delivery') {
      throw badRequest(
        'events.event',
        `only transfer, delivery and residency-report events are recorded on a caller's word, not ${event.type} events: the region records those itself`,
      );
    }
  }
  return events;
}
