import { DomicileError } from '../errors/domicile-error.js';
import { findCategory } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { TenantRef } from './region-client.js';

/**
 * Checks of what reaches a region node. Requests arrive typed from in-process callers but as
 * parsed JSON from HTTP, so every field is checked at run time here, in the one place both
 * paths share: the two clients then refuse the same inputs with the same messages.
 */
const controlCharacters = /[\u0000-\u001f\u007f]/;

function bad(field: string, message: string): DomicileError {
  return new DomicileError('BAD_REQUEST', message, { details: { field } });
}

export function checkObject(req: unknown, method: string): Record<string, unknown> {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) {
    throw bad('body', `${method} takes an object of named arguments`);
  }
  return req as Record<string, unknown>;
}

export function checkId(value: unknown, field: string, maxLength = 128): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength || controlCharacters.test(value)) {
    throw bad(field, `${field} is a string of 1 to ${maxLength} characters without control characters`);
  }
  return value;
}

export function checkService(policy: Policy, value: unknown): string {
  const service = checkId(value, 'service', 63);
  if (!policy.services.some((s) => s.id === service)) {
    throw bad('service', `service "${service}" is not in policy "${policy.name}"; use one of: ${policy.services.map((s) => s.id).join(', ')}`);
  }
  return service;
}

export function checkEpoch(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw bad('epoch', 'epoch is a whole number of at least 0 (the directory epoch the request was routed with)');
  }
  return value;
}

export function checkTenantRef(policy: Policy, req: unknown, method: string): TenantRef {
  const r = checkObject(req, method);
  return { userId: checkId(r.userId, 'userId'), service: checkService(policy, r.service), epoch: checkEpoch(r.epoch) };
}

/** A collection is a category of the service in the policy; names starting with "_" are reserved. */
export function checkCollection(policy: Policy, service: string, value: unknown): string {
  const collection = checkId(value, 'collection', 63);
  if (collection.startsWith('_') || !findCategory(policy, service, collection)) {
    const allowed = policy.services.find((s) => s.id === service)?.categories.map((c) => c.id) ?? [];
    const reserved = collection.startsWith('_') ? ' (names starting with "_" are reserved)' : '';
    throw bad('collection', `collection "${collection}" is not a category of service ${service}${reserved}; use one of: ${allowed.join(', ')}`);
  }
  return collection;
}

export function checkRecordKey(value: unknown): string {
  return checkId(value, 'key', 256);
}

export function checkIfVersion(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw bad('ifVersion', 'ifVersion is a whole number of at least 0 (0: the record must not exist yet)');
  }
  return value;
}

export function checkMarket(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Z]{2}$/.test(value)) {
    throw bad('market', 'market is an ISO 3166-1 alpha-2 country code in capitals, for example IN');
  }
  return value;
}

export function checkOptionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw bad(field, `${field} is a string`);
  return value;
}
