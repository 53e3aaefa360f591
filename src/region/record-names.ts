import { createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { open, seal } from '../crypto/aead.js';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';

/**
 * Record keys are the client's strings (`contact-6591234567`), personal data like the values:
 * they never rest in plaintext. The store's key column holds a keyId, the keyed hash
 *
 *   keyId = base64url(HMAC-SHA256(indexKey, collection NUL key), first 16 bytes)
 *
 * under an index key derived (HKDF) from the user's key in this region, so equal keys of the
 * same user and collection always meet (lookups, upserts, the change log), while nobody
 * without the region's keys can test a guessed phone number against it; each region makes its
 * own user key, so the same record has unrelated keyIds in two regions; and the keyIds go with
 * the user's erasure (their key is shredded). Beside each keyId the client's key rests sealed
 * under the user key (not a category key: a delete's change-log entry outlives a shredded
 * category, and a device's sync or a migration's catch-up must still name what it deleted).
 * Collection names are categories of the policy, not client-chosen, and stay plain.
 */
export interface RecordNameAddress {
  regionId: string;
  userId: string;
  service: string;
  collection: string;
  keyId: string;
}

const indexInfo = Buffer.from('domicile/record-index/v1', 'utf8');

/** What separates a record's id from its part's index in a key (photo-sync.ts's chunk keys). */
export const partMark = '~';

/**
 * One user's record names in one region: keyIds, and the client's keys sealed and opened. Made
 * once per user and kept (the key hierarchy caches it beside the user key): the index key is
 * derived (HKDF-SHA256 of the user key, no salt: the user key is uniformly random) and held as a
 * KeyObject, which makes an HMAC less than half as costly as one keyed with a Buffer.
 */
export class RecordNames {
  private readonly indexKey: KeyObject;

  constructor(
    private readonly regionId: string,
    readonly userId: string,
    private readonly userKey: Buffer,
  ) {
    this.indexKey = createSecretKey(Buffer.from(hkdfSync('sha256', userKey, Buffer.alloc(0), indexInfo, 32)));
  }

  /**
   * The keyId of a client's key; checked names hold no control characters, so NUL separates them.
   * The HMAC truncated to 128 bits (22 characters): two keys of one user's collection meet with a
   * chance of about n²/2^129, and a short key keeps the store's index small and its pages full.
   */
  keyId(collection: string, key: string): string {
    const id = createHmac('sha256', this.indexKey)
      .update(collection, 'utf8')
      .update('\u0000')
      .update(key, 'utf8')
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    // A part of a record (`<id>~<index>`, a photo's chunk) keeps its mark, outside the base64url
    // alphabet, so that a store can leave parts out of a listing before it reads their bodies.
    // It tells only that the key has a part mark, which the value's size tells anyway.
    return key.includes(partMark) ? `${id}${partMark}` : id;
  }

  /** The client's key sealed for its row and change-log entries. */
  seal(service: string, collection: string, keyId: string, key: string): Buffer {
    return seal(this.userKey, Buffer.from(key, 'utf8'), this.aad(service, collection, keyId));
  }

  /** The client's key of a row or change-log entry; INTEGRITY if it does not open here or is not the key of its keyId. */
  open(service: string, collection: string, keyId: string, sealed: Buffer | null): string {
    if (sealed === null) {
      throw new DomicileError(
        'INTEGRITY',
        `record ${service}/${collection}/${keyId} of user ${this.userId} in region ${this.regionId} has no sealed key (a store written by an older version: open it with \`domicile up\` once to upgrade it)`,
      );
    }
    const key = open(this.userKey, sealed, this.aad(service, collection, keyId)).toString('utf8');
    // The AAD binds the keyId already; this also catches a keyId computed under another user's index key.
    if (this.keyId(collection, key) !== keyId) {
      throw new DomicileError(
        'INTEGRITY',
        `record ${service}/${collection}/${keyId} of user ${this.userId} in region ${this.regionId} holds the sealed key of another record`,
      );
    }
    return key;
  }

  private aad(service: string, collection: string, keyId: string): Buffer {
    return Buffer.from(
      JSON.stringify(['domicile/record-key/v1', this.regionId, this.userId, service, collection, keyId]),
      'utf8',
    );
  }
}

/**
 * The keyId to look up for a user with no user key here: no record of theirs can be here, and
 * no keyId is empty, so the store's read or delete finds nothing while still checking the
 * tenancy (and an ifVersion) as for any other key.
 */
export const absentKeyId = '';

/** Code-unit order of (collection, key): the order listings and exports give, whatever the store's. */
export function byName(a: { collection: string; key: string }, b: { collection: string; key: string }): number {
  return compare(a.collection, b.collection) || compare(a.key, b.key);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A store's error about a record, naming it by the client's key instead of its keyId (for the client's own answer). */
export function namedError(err: unknown, keyId: string, key: string): unknown {
  if (!isDomicileError(err) || keyId === '' || !err.message.includes(keyId)) return err;
  return new DomicileError(err.code, err.message.split(keyId).join(key), { cause: err, details: err.details });
}
