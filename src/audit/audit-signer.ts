import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { z } from 'zod';
import { readOrCreatePrivateFile } from '../crypto/private-file.js';
import { DomicileError } from '../errors/domicile-error.js';

const signerFileSchema = z
  .object({
    format: z.literal(1),
    regionId: z.string().min(1),
    created: z.string().min(1),
    /** PKCS #8, DER, base64. */
    privateKey: z.string().min(1),
    /** SubjectPublicKeyInfo, DER, base64: what verifiers pin. */
    publicKey: z.string().min(1),
  })
  .strict();

/**
 * A region's Ed25519 key that signs its audit log's checkpoints, in a file of its own beside
 * the keyring (mode 0600, created on first start). Only the region's node opens it; verifiers
 * need only the public key, which every checkpoint's reader gets from the region and pins.
 */
export class AuditSigner {
  private constructor(
    readonly regionId: string,
    readonly publicKey: string,
    private readonly key: KeyObject,
  ) {}

  static open(options: { path: string; regionId: string }): AuditSigner {
    const { path, regionId } = options;
    const text = readOrCreatePrivateFile(
      path,
      `the audit signing key of region ${regionId}`,
      () => {
        const pair = generateKeyPairSync('ed25519');
        return `${JSON.stringify(
          {
            format: 1,
            regionId,
            created: new Date().toISOString(),
            privateKey: pair.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
            publicKey: pair.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
          },
          null,
          2,
        )}\n`;
      },
      'replace it (its old checkpoints stay verifiable with the old public key)',
    );
    let parsed: z.infer<typeof signerFileSchema>;
    try {
      parsed = signerFileSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new DomicileError('INTERNAL', `the audit signing key ${path} is malformed: restore it from backup`, {
        cause: err,
      });
    }
    if (parsed.regionId !== regionId) {
      throw new DomicileError(
        'FORBIDDEN',
        `the audit signing key ${path} belongs to region ${parsed.regionId}, not ${regionId}: each region signs with its own key`,
        { details: { path } },
      );
    }
    const key = createPrivateKey({ key: Buffer.from(parsed.privateKey, 'base64'), format: 'der', type: 'pkcs8' });
    const derived = createPublicKey(key).export({ format: 'der', type: 'spki' }).toString('base64');
    if (derived !== parsed.publicKey)
      throw new DomicileError(
        'INTERNAL',
        `the audit signing key ${path} holds a public key that is not its private key's: restore it from backup`,
      );
    return new AuditSigner(regionId, parsed.publicKey, key);
  }

  sign(message: Buffer): Buffer {
    return sign(null, message, this.key);
  }
}

/** Whether `signature` is `publicKey`'s Ed25519 signature of `message`; false for anything malformed. */
export function verifySignature(publicKey: string, message: Buffer, signature: Buffer): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ed25519' && verify(null, message, key, signature);
  } catch {
    return false;
  }
}
