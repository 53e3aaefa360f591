import { createHmac } from 'node:crypto';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * Blind index of login identifiers: HMAC-SHA256 under a secret key, of the identifier's
 * normal form. The directory looks users up by it and so never holds a phone number or an
 * e-mail address; without the key, the index cannot be reversed by enumerating phone numbers.
 */
export type LoginKind = 'phone' | 'email';

const phoneShape = /^\+?[0-9 ().-]+$/;
/** E.164: a country code and subscriber number, at most 15 digits in all. */
const minPhoneDigits = 7;
const maxPhoneDigits = 15;

/**
 * A phone number's normal form: "+" and its digits ("+65 9123-4567" → "+6591234567").
 * Throws BAD_REQUEST naming what is wrong.
 */
export function normalisePhone(raw: string): string {
  const trimmed = raw.trim();
  if (!phoneShape.test(trimmed)) {
    throw new DomicileError(
      'BAD_REQUEST',
      'a phone number holds only digits, spaces, dashes, dots, brackets and a leading "+", for example +65 9123 4567',
      { details: { field: 'phone' } },
    );
  }
  if (!trimmed.startsWith('+')) {
    throw new DomicileError(
      'BAD_REQUEST',
      'a phone number is written in international form, starting with "+" and the country code, for example +919812345678',
      { details: { field: 'phone' } },
    );
  }
  const digits = trimmed.replace(/[^0-9]/g, '');
  if (digits.length < minPhoneDigits || digits.length > maxPhoneDigits) {
    throw new DomicileError(
      'BAD_REQUEST',
      `a phone number has ${minPhoneDigits} to ${maxPhoneDigits} digits including the country code; this one has ${digits.length}`,
      { details: { field: 'phone' } },
    );
  }
  if (digits.startsWith('0')) {
    throw new DomicileError(
      'BAD_REQUEST',
      'a country code never starts with 0: write the number as "+" and the country code, for example +6591234567',
      { details: { field: 'phone' } },
    );
  }
  return `+${digits}`;
}

const emailShape = /^[^\s@]+@[^\s@]+$/;
const domainLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** An e-mail address's normal form: trimmed and lower-case. Throws BAD_REQUEST naming what is wrong. */
export function normaliseEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254) {
    throw new DomicileError(
      'BAD_REQUEST',
      `an e-mail address has at most 254 characters; this one has ${email.length}`,
      { details: { field: 'email' } },
    );
  }
  if (!emailShape.test(email)) {
    throw new DomicileError(
      'BAD_REQUEST',
      'an e-mail address is one "@" between a name and a domain, without spaces, for example lei@example.com',
      { details: { field: 'email' } },
    );
  }
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  const labels = email.slice(at + 1).split('.');
  if (local.length > 64) {
    throw new DomicileError(
      'BAD_REQUEST',
      `the part of an e-mail address before "@" has at most 64 characters; this one has ${local.length}`,
      { details: { field: 'email' } },
    );
  }
  if (labels.length < 2 || !labels.every((label) => domainLabel.test(label))) {
    throw new DomicileError(
      'BAD_REQUEST',
      'the domain of an e-mail address is dot-separated names of letters, digits and dashes, for example example.com',
      { details: { field: 'email' } },
    );
  }
  return email;
}

export function normaliseLogin(kind: LoginKind, raw: string): string {
  return kind === 'phone' ? normalisePhone(raw) : normaliseEmail(raw);
}

/** Bytes a blind-index key has at least. */
export const minBlindIndexKeyBytes = 16;

export class BlindIndex {
  private readonly key: Buffer;

  /** `key`: the secret, as bytes or as the text of a secret file (its UTF-8 bytes are the key). */
  constructor(key: Buffer | string) {
    const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    if (bytes.length < minBlindIndexKeyBytes) {
      throw new DomicileError(
        'INTERNAL',
        `a blind-index key has at least ${minBlindIndexKeyBytes} bytes; this one has ${bytes.length}`,
      );
    }
    this.key = bytes;
  }

  /**
   * The index of a login identifier (base64url, 43 characters). The kind is part of the MAC
   * input, so a phone number and an e-mail address never share an index.
   */
  index(kind: LoginKind, raw: string): string {
    const normal = normaliseLogin(kind, raw);
    return createHmac('sha256', this.key).update(`domicile/login/v1\0${kind}\0${normal}`, 'utf8').digest('base64url');
  }

  phone(raw: string): string {
    return this.index('phone', raw);
  }

  email(raw: string): string {
    return this.index('email', raw);
  }
}
