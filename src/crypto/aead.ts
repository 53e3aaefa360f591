import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { DomicileError } from '../errors/domicile-error.js';
import { takeRandomBytes } from '../shared/random-pool.js';

/**
 * The AEAD envelope of Domicile: AES-256-GCM with a random 12-byte IV.
 *
 *   [format: 1 byte = 0x01][iv: 12 bytes][ciphertext][tag: 16 bytes]
 *
 * The format byte lets a later envelope (another cipher, a key id) sit beside this one without
 * guessing. The associated data is not stored: the opener must rebuild it from where the
 * ciphertext is found, which is what makes a ciphertext moved elsewhere fail to open.
 * Random IVs are safe here because every key seals far fewer than 2^32 messages before it is
 * rotated or shredded (per-user, per-category keys).
 */
export const aeadFormat = 0x01;
export const aeadKeyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;
/** Bytes an envelope adds to its plaintext. */
export const aeadOverhead = 1 + ivBytes + tagBytes;

/**
 * The KeyObject of each key Buffer in use: createCipheriv with a raw Buffer builds a new
 * KeyObject on every call, a third of the cost of sealing a small record. Weak, so a key
 * dropped from the caches (or shredded) takes its KeyObject with it.
 */
const keyObjects = new WeakMap<Buffer, KeyObject>();

function keyObject(key: Buffer): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    if (key.length !== aeadKeyBytes) {
      // A wrong-length key is a programming error, never a user's: report it as such.
      throw new DomicileError('INTERNAL', `an AES-256-GCM key is ${aeadKeyBytes} bytes, not ${key.length}`);
    }
    object = createSecretKey(key);
    keyObjects.set(key, object);
  }
  return object;
}

/** A fresh random IV per seal, from the shared pool of random bytes (one CSPRNG call per 1,365 IVs). */
function nextIv(): Buffer {
  return takeRandomBytes(ivBytes);
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), iv, { authTagLength: tagBytes });
  cipher.setAAD(aad);
  const head = Buffer.allocUnsafe(1 + ivBytes);
  head[0] = aeadFormat;
  iv.copy(head, 1);
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([head, body, tail, cipher.getAuthTag()]);
}

/** Opens an envelope made by `seal`; any tampering, wrong key or wrong aad → INTEGRITY. */
export function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const k = keyObject(key);
  if (sealed.length < aeadOverhead) {
    throw new DomicileError(
      'INTEGRITY',
      `a sealed value is at least ${aeadOverhead} bytes; this one has ${sealed.length}`,
    );
  }
  if (sealed[0] !== aeadFormat) {
    throw new DomicileError(
      'INTEGRITY',
      `unknown envelope format 0x${(sealed[0] ?? 0).toString(16)} (expected 0x0${aeadFormat})`,
    );
  }
  const iv = sealed.subarray(1, 1 + ivBytes);
  const tag = sealed.subarray(sealed.length - tagBytes);
  const body = sealed.subarray(1 + ivBytes, sealed.length - tagBytes);
  try {
    const decipher = createDecipheriv('aes-256-gcm', k, iv, { authTagLength: tagBytes });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const head = decipher.update(body);
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch (err) {
    throw new DomicileError(
      'INTEGRITY',
      'a sealed value failed to open: it was altered, or moved from where it was written, or the key is wrong',
      { cause: err },
    );
  }
}
