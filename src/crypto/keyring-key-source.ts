import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { DomicileError } from '../errors/domicile-error.js';
import { aeadKeyBytes, open, seal } from './aead.js';
import type { KeySource } from './key-source.js';
import { readOrCreatePrivateFile } from './private-file.js';

/**
 * A region's keyring file: the default key source. Only that region's node opens it.
 *
 *   { "format": 1, "regionId": "sg-singapore", "activeKeyId": "k-…",
 *     "keys": [{ "id": "k-…", "created": "2014-10-01T00:00:00.000Z", "material": "<base64>" }] }
 *
 * It holds several keys so that rotation can come later: new keys are wrapped by the active
 * one, and every wrapped key names the key that wrapped it, so older ones still open.
 */
const keyringFileSchema = z.object({
  format: z.literal(1),
  regionId: z.string().min(1),
  activeKeyId: z.string().min(1).max(255),
  keys: z
    .array(
      z.object({
        id: z.string().min(1).max(255),
        created: z.string().min(1),
        material: z.string().min(1),
      }),
    )
    .min(1),
});

export type KeyringFile = z.infer<typeof keyringFileSchema>;

export interface KeyringOptions {
  /** The keyring file; created (mode 0600, its folder 0700) if absent. */
  path: string;
  /** The region this keyring belongs to; a keyring of another region is refused. */
  regionId: string;
}

/** Wrapped-key layout: [format 0x01][key id length: 1 byte][key id][AEAD envelope]. */
const wrapFormat = 0x01;

export class KeyringKeySource implements KeySource {
  readonly kekId: string;

  private constructor(
    readonly path: string,
    readonly regionId: string,
    private readonly keys: ReadonlyMap<string, Buffer>,
    activeKeyId: string,
  ) {
    this.kekId = activeKeyId;
  }

  /** Opens the region's keyring, creating it with one fresh 32-byte key if it is absent. */
  static open(options: KeyringOptions): KeyringKeySource {
    const { path, regionId } = options;
    const text = readOrCreatePrivateFile(
      path,
      `the keyring of region ${regionId}`,
      () => newKeyring(regionId),
      'rotate its keys if others may have read it',
    );
    return KeyringKeySource.parse(text, path, regionId);
  }

  private static parse(text: string, path: string, regionId: string): KeyringKeySource {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new DomicileError(
        'INTERNAL',
        `the keyring ${path} is not valid JSON: restore it from backup (without it, region ${regionId}'s data cannot be read)`,
        { cause: err },
      );
    }
    const parsed = keyringFileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DomicileError(
        'INTERNAL',
        `the keyring ${path} is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown problem'}; restore it from backup`,
      );
    }
    const file = parsed.data;
    if (file.regionId !== regionId) {
      throw new DomicileError(
        'FORBIDDEN',
        `the keyring ${path} belongs to region ${file.regionId}, not ${regionId}: each region opens only its own keyring; point region ${regionId}'s keys.path at its own file (or remove the setting to use the default)`,
        {
          details: { path, expected: regionId, found: file.regionId },
        },
      );
    }
    const keys = new Map<string, Buffer>();
    for (const key of file.keys) {
      const material = Buffer.from(key.material, 'base64');
      if (material.length !== aeadKeyBytes) {
        throw new DomicileError(
          'INTERNAL',
          `key ${key.id} in the keyring ${path} has ${material.length} bytes of material, not ${aeadKeyBytes}; restore the keyring from backup`,
        );
      }
      if (keys.has(key.id)) {
        throw new DomicileError('INTERNAL', `the keyring ${path} lists key ${key.id} twice; restore it from backup`);
      }
      keys.set(key.id, material);
    }
    if (!keys.has(file.activeKeyId)) {
      throw new DomicileError(
        'INTERNAL',
        `the keyring ${path} names active key ${file.activeKeyId}, which it does not hold; set activeKeyId to one of: ${[...keys.keys()].join(', ')}`,
      );
    }
    return new KeyringKeySource(path, regionId, keys, file.activeKeyId);
  }

  /** The ids of every key held, the active one included. */
  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  wrap(dataKey: Buffer, aad: Buffer): Buffer {
    const kek = this.keys.get(this.kekId);
    if (!kek) throw new DomicileError('INTERNAL', `active key ${this.kekId} is missing from keyring ${this.path}`);
    const id = Buffer.from(this.kekId, 'utf8');
    const head = Buffer.from([wrapFormat, id.length]);
    return Buffer.concat([head, id, seal(kek, dataKey, aad)]);
  }

  unwrap(wrapped: Buffer, aad: Buffer): Buffer {
    if (wrapped.length < 2 || wrapped[0] !== wrapFormat) {
      throw new DomicileError('INTEGRITY', 'a wrapped key has an unknown format');
    }
    const idLength = wrapped[1] ?? 0;
    const id = wrapped.subarray(2, 2 + idLength).toString('utf8');
    const kek = this.keys.get(id);
    if (!kek) {
      throw new DomicileError(
        'INTEGRITY',
        `a wrapped key names key ${id}, which the keyring of region ${this.regionId} does not hold (was it wrapped in another region?)`,
      );
    }
    return open(kek, wrapped.subarray(2 + idLength), aad);
  }
}

/** A new keyring's text, with one fresh key. */
function newKeyring(regionId: string): string {
  const keyId = `k-${randomBytes(6).toString('hex')}`;
  const file: KeyringFile = {
    format: 1,
    regionId,
    activeKeyId: keyId,
    keys: [{ id: keyId, created: new Date().toISOString(), material: randomBytes(aeadKeyBytes).toString('base64') }],
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}
