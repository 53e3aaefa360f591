import { open, seal } from '../crypto/aead.js';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * Sealing of record values. The associated data binds region, user, service, collection, the
 * record's key as stored (its keyId, see record-names.ts) and its version, so a ciphertext
 * copied to any other place (another user, key, collection or region), or an older ciphertext
 * of the same record put back in its row, fails to open with INTEGRITY instead of yielding
 * someone's data or a rolled-back state as current.
 */
export interface RecordAddress {
  regionId: string;
  userId: string;
  service: string;
  collection: string;
  /** The key as the store holds it: the keyed hash of the client's key, never the key itself. */
  key: string;
  /** The version the row holds the value at. */
  version: number;
}

/** Largest JSON value a record holds by default (1 MiB). */
export const defaultMaxValueBytes = 1024 * 1024;

export function recordAad(a: RecordAddress): Buffer {
  return Buffer.from(
    JSON.stringify(['domicile/record/v2', a.regionId, a.userId, a.service, a.collection, a.key, a.version]),
    'utf8',
  );
}

/**
 * The associated data versions before keyIds sealed with: the client's key in the clear and no
 * version. Only the upgrade of such a store (record-key-upgrade.ts) opens with it.
 */
export function legacyRecordAad(a: Omit<RecordAddress, 'version'>): Buffer {
  return Buffer.from(
    JSON.stringify(['domicile/record/v1', a.regionId, a.userId, a.service, a.collection, a.key]),
    'utf8',
  );
}

/** The value's JSON, as bytes; BAD_REQUEST for what JSON cannot hold, PAYLOAD_TOO_LARGE past the limit. */
export function encodeValue(value: unknown, maxBytes: number): Buffer {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new DomicileError('BAD_REQUEST', `a record value must be JSON: ${(err as Error).message}`, {
      cause: err,
      details: { field: 'value' },
    });
  }
  if (json === undefined) {
    throw new DomicileError(
      'BAD_REQUEST',
      'a record needs a value: any JSON (object, array, string, number, boolean or null)',
      { details: { field: 'value' } },
    );
  }
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length > maxBytes) {
    throw new DomicileError(
      'PAYLOAD_TOO_LARGE',
      `a record value has at most ${maxBytes} bytes of JSON; this one has ${bytes.length}`,
      { details: { limit: maxBytes } },
    );
  }
  return bytes;
}

export function sealValue(key: Buffer, json: Buffer, address: RecordAddress): Buffer {
  return seal(key, json, recordAad(address));
}

/** The plaintext JSON bytes of a sealed record; INTEGRITY if it does not open here. */
export function openPlain(key: Buffer, ciphertext: Buffer, address: RecordAddress): Buffer {
  return open(key, ciphertext, recordAad(address));
}

export function openValue(key: Buffer, ciphertext: Buffer, address: RecordAddress): unknown {
  return parsePlain(openPlain(key, ciphertext, address), address);
}

export function parsePlain(plain: Buffer, address: RecordAddress): unknown {
  try {
    return JSON.parse(plain.toString('utf8'));
  } catch (err) {
    throw new DomicileError(
      'INTEGRITY',
      `record ${address.service}/${address.collection}/${address.key} opened but does not hold JSON`,
      { cause: err },
    );
  }
}
