import { auditEventSchema, type AuditEvent } from '../audit/audit-event.js';
import { consentCollection, gatedCategories } from '../consent/consent-ledger.js';
import { DomicileError } from '../errors/domicile-error.js';
import { findRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { TenancyStatus } from '../store/region-store.js';
import { credentialsCategory, credentialsCollection, credentialsKey, credentialsService } from './credentials.js';
import type { MovedRecord, RecordStates, TenancyChange } from './region-client.js';
import { checkCollection, checkEpoch, checkId, checkMarket, checkRecordKey } from './request-validation.js';

/**
 * Checks of the migration primitives' arguments (the coordinator's calls), run in the node like
 * request-validation.ts so the in-process and HTTP clients refuse the same inputs alike. The
 * coordinator is trusted to call them, not to be bug-free: a malformed batch is refused whole.
 */

/** Most users one exportUsers call takes: a sanity bound, far above any sensible batch. */
export const maxExportUsers = 10_000;
/** Most records one readRecordStates or importUsers call names. */
export const maxRecordRefs = 100_000;
/** Most change-log entries one changesSince call returns. */
export const maxChangesPage = 10_000;

const statuses: readonly TenancyStatus[] = ['home', 'fenced', 'moved', 'incoming'];

function bad(field: string, message: string): DomicileError {
  return new DomicileError('BAD_REQUEST', message, { details: { field } });
}

function checkArray(value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw bad(field, `${field} is an array`);
  if (value.length > max) throw bad(field, `${field} holds at most ${max} entries per call, not ${value.length}: split the batch`);
  return value;
}

function checkWhole(value: unknown, field: string, min: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw bad(field, `${field} is a whole number of at least ${min} (${what})`);
  return value;
}

export function checkUserIds(value: unknown): string[] {
  const ids = checkArray(value, 'userIds', maxExportUsers).map((id) => checkId(id, 'userIds'));
  if (new Set(ids).size !== ids.length) throw bad('userIds', 'userIds names a user twice');
  return ids;
}

/**
 * The category whose key seals a moved record: the collection itself, or for the reserved
 * credentials record (which must move with the account service, or its users could not log
 * in at the destination) the identity category, as setCredentials seals it.
 */
export function movedCategory(policy: Policy, service: string, collection: unknown, key: unknown): { collection: string; key: string; category: string } {
  if (service === credentialsService && collection === credentialsCollection) {
    if (key !== credentialsKey) throw bad('key', `the ${credentialsCollection} collection holds only the key "${credentialsKey}"`);
    return { collection: credentialsCollection, key: credentialsKey, category: credentialsCategory };
  }
  // A consent ledger moves with the service whose categories need its purpose, sealed under a key of its own.
  if (collection === consentCollection) {
    if (typeof key !== 'string' || gatedCategories(policy, service, key).length === 0) {
      throw bad('key', `the ${consentCollection} collection of service ${service} holds one record per purpose that gates one of its categories; "${String(key)}" is none`);
    }
    return { collection: consentCollection, key, category: consentCollection };
  }
  const checked = checkCollection(policy, service, collection);
  return { collection: checked, key: checkRecordKey(key), category: checked };
}

/** The category of a record already in the store (its collection, identity for credentials; a consent ledger's is its own). */
export function storedCategory(collection: string): string {
  return collection === credentialsCollection ? credentialsCategory : collection;
}

export interface CheckedRef {
  collection: string;
  key: string;
  category: string;
}

export function checkRefs(policy: Policy, service: string, value: unknown, field: string): CheckedRef[] {
  return checkArray(value, field, maxRecordRefs).map((ref) => {
    if (ref === null || typeof ref !== 'object') throw bad(field, `each entry of ${field} is an object { collection, key }`);
    const r = ref as Record<string, unknown>;
    return movedCategory(policy, service, r.collection, r.key);
  });
}

export interface CheckedMovedRecord extends CheckedRef {
  version: number;
  updatedAt: number;
  value: unknown;
}

export function checkStates(policy: Policy, service: string, value: unknown): { records: CheckedMovedRecord[]; deleted: CheckedRef[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('states', 'states is an object { records, deleted }');
  const s = value as Partial<Record<keyof RecordStates, unknown>>;
  const records = checkArray(s.records, 'states.records', maxRecordRefs).map((rec): CheckedMovedRecord => {
    if (rec === null || typeof rec !== 'object') throw bad('states.records', 'each entry of states.records is a record { collection, key, version, updatedAt, value }');
    const r = rec as Partial<Record<keyof MovedRecord, unknown>>;
    return {
      ...movedCategory(policy, service, r.collection, r.key),
      version: checkWhole(r.version, 'version', 1, 'the version the source gave the record'),
      updatedAt: checkWhole(r.updatedAt, 'updatedAt', 0, 'milliseconds since 1970'),
      value: r.value,
    };
  });
  const deleted = checkRefs(policy, service, s.deleted, 'states.deleted');
  if (records.length + deleted.length > maxRecordRefs) throw bad('states', `states names at most ${maxRecordRefs} records per call: split the batch`);
  // A record named twice has no single state to end in.
  // The names were checked: no control characters, so NUL separates them unambiguously.
  const seen = new Set<string>();
  for (const r of [...records, ...deleted]) {
    const name = `${r.collection}\u0000${r.key}`;
    if (seen.has(name)) throw bad('states', `states names record ${service}/${r.collection}/${r.key} twice`);
    seen.add(name);
  }
  return { records, deleted };
}

export function checkAfterSeq(value: unknown): number {
  return checkWhole(value, 'afterSeq', 0, 'the last change sequence number already seen; 0 for the start');
}

export function checkLimit(value: unknown): number {
  const limit = checkWhole(value, 'limit', 1, `changes per page, at most ${maxChangesPage}`);
  if (limit > maxChangesPage) throw bad('limit', `limit is at most ${maxChangesPage}, not ${limit}`);
  return limit;
}

/** A directory epoch set by the coordinator: every tenancy it sets is at epoch 1 or later. */
export function checkSetEpoch(value: unknown): number {
  return checkWhole(value, 'epoch', 1, 'the directory epoch the tenancy is at');
}

export function checkStatus(value: unknown): TenancyStatus {
  const status = statuses.find((s) => s === value);
  if (status === undefined) throw bad('status', `status is one of: ${statuses.join(', ')}`);
  return status;
}

/** movedTo names where a 'moved' user went: a region of the policy other than this one; null otherwise. */
export function checkMovedTo(policy: Policy, regionId: string, status: TenancyStatus, value: unknown): string | null {
  if (status !== 'moved') {
    if (value !== null && value !== undefined) throw bad('movedTo', `movedTo is null unless status is moved (status: ${status})`);
    return null;
  }
  if (value === null || value === undefined) throw bad('movedTo', 'movedTo is required when status is moved: the region the user went to');
  const movedTo = checkId(value, 'movedTo', 63);
  if (!findRegion(policy, movedTo)) {
    throw bad('movedTo', `movedTo "${movedTo}" is not a region of policy "${policy.name}"; use one of: ${policy.regions.map((r) => r.id).join(', ')}`);
  }
  if (movedTo === regionId) throw bad('movedTo', `a user cannot have moved from region ${regionId} to itself`);
  return movedTo;
}

export interface CheckedUserImport {
  userId: string;
  market: string;
  epoch: number;
  states: { records: CheckedMovedRecord[]; deleted: CheckedRef[] };
}

/** importUsers' users: each named once, at most maxRecordRefs records in all. */
export function checkUserImports(policy: Policy, service: string, value: unknown): CheckedUserImport[] {
  const seen = new Set<string>();
  let records = 0;
  return checkArray(value, 'users', maxExportUsers).map((entry): CheckedUserImport => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad('users', 'each entry of users is an object { userId, market, epoch, states }');
    const u = entry as Record<string, unknown>;
    const userId = checkId(u.userId, 'userId');
    if (seen.has(userId)) throw bad('users', `users names user ${userId} twice`);
    seen.add(userId);
    const states = checkStates(policy, service, u.states);
    records += states.records.length + states.deleted.length;
    if (records > maxRecordRefs) throw bad('users', `users name at most ${maxRecordRefs} records per call: split the batch`);
    return { userId, market: checkMarket(u.market), epoch: checkEpoch(u.epoch), states };
  });
}

/** setTenancies' tenancies: each user named once. */
export function checkTenancyChanges(policy: Policy, regionId: string, value: unknown): TenancyChange[] {
  const seen = new Set<string>();
  return checkArray(value, 'tenancies', maxExportUsers).map((entry): TenancyChange => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad('tenancies', 'each entry of tenancies is an object { userId, market, epoch, status, movedTo }');
    const t = entry as Record<string, unknown>;
    const userId = checkId(t.userId, 'userId');
    if (seen.has(userId)) throw bad('tenancies', `tenancies names user ${userId} twice`);
    seen.add(userId);
    const status = checkStatus(t.status);
    return { userId, market: checkMarket(t.market), epoch: checkSetEpoch(t.epoch), status, movedTo: checkMovedTo(policy, regionId, status, t.movedTo) };
  });
}

/** recordEvents' events: each an audit event of the schema, with an id or null. */
export function checkAuditEvents(value: unknown): Array<{ id: string | null; event: AuditEvent }> {
  return checkArray(value, 'events', 1_000).map((entry) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad('events', 'each entry of events is an object { id, event }');
    const e = entry as Record<string, unknown>;
    const id = e.id === null ? null : checkId(e.id, 'events.id', 200);
    const parsed = auditEventSchema.safeParse(e.event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw bad('events.event', `an audit event is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown problem'}`);
    }
    // The region records its own consent decisions, shreds, requests and policy: from outside,
    // only what the caller answers for (a migration's transfers, a report it issued), or
    // evidence could be forged.
    if (parsed.data.type !== 'transfer' && parsed.data.type !== 'residency-report' && parsed.data.type !== 'delivery') {
      throw bad('events.event', `only transfer, delivery and residency-report events are recorded on a caller's word, not ${parsed.data.type} events: the region records those itself`);
    }
    return { id, event: parsed.data };
  });
}
