import type { AuditSigner } from './audit-signer.js';
import { verifySignature } from './audit-signer.js';

/**
 * A signed tree head: the region, the log's size, its RFC 6962 root and when, signed with the
 * region's Ed25519 key. Size and root are authenticated together by the signature, which is
 * what makes a proof checked against a checkpoint mean anything.
 */
export interface Checkpoint {
  region: string;
  size: number;
  /** Hex. */
  root: string;
  at: number;
  /** Base64. */
  signature: string;
}

export function checkpointBody(c: Omit<Checkpoint, 'signature'>): Buffer {
  return Buffer.from(`domicile/audit-checkpoint/v1\n${c.region}\n${c.size}\n${c.root}\n${c.at}\n`, 'utf8');
}

export function signCheckpoint(signer: AuditSigner, size: number, root: Buffer, at: number): Checkpoint {
  const body = { region: signer.regionId, size, root: root.toString('hex'), at };
  return { ...body, signature: signer.sign(checkpointBody(body)).toString('base64') };
}

export function checkpointSigned(c: Checkpoint, publicKey: string): boolean {
  return verifySignature(publicKey, checkpointBody(c), Buffer.from(c.signature, 'base64'));
}
