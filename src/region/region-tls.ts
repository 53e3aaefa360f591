import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * TLS on the hops between gateways (and the migration coordinator inside them) and region
 * nodes, which may be in different countries: a node serves HTTPS with its certificate and,
 * with a client CA, accepts only callers whose certificate that CA signed (mutual TLS); a
 * gateway verifies nodes against the CA it is given and presents its own certificate.
 * Every file is read and checked when the process starts, so a wrong flag stops it with a
 * message naming the flag and the file, never at the first request.
 */

/** What `domicile region` serves with (node:tls options). */
export interface NodeTls {
  cert: Buffer;
  key: Buffer;
  /** CAs a caller's certificate must chain to; absent: callers present none (TLS without mutual). */
  ca?: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** What a gateway reaches nodes over https:// with (node:tls options). */
export interface CallerTls {
  /** CAs a node's certificate must chain to; absent: the system's. */
  ca?: Buffer;
  /** The gateway's own certificate and key, presented to a node that asks (mutual TLS). */
  cert?: Buffer;
  key?: Buffer;
}

/** `domicile region --tls-cert --tls-key [--tls-client-ca]`, read and checked; undefined without --tls-cert and --tls-key. */
export function loadNodeTls(files: { cert?: string; key?: string; clientCa?: string }): NodeTls | undefined {
  if (files.cert === undefined && files.key === undefined) {
    if (files.clientCa !== undefined)
      throw tlsError('--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first');
    return undefined;
  }
  const { cert, key } = certAndKey(files.cert, files.key, '--tls-cert', '--tls-key');
  const ca = files.clientCa === undefined ? undefined : certificates(files.clientCa, '--tls-client-ca');
  return { cert, key, ...(ca ? { ca } : {}), requestCert: ca !== undefined, rejectUnauthorized: ca !== undefined };
}

/** `domicile up --region-tls-ca [--region-tls-cert --region-tls-key]`, read and checked; undefined with none. */
export function loadCallerTls(files: { ca?: string; cert?: string; key?: string }): CallerTls | undefined {
  if (files.ca === undefined && files.cert === undefined && files.key === undefined) return undefined;
  const ca = files.ca === undefined ? undefined : certificates(files.ca, '--region-tls-ca');
  const own =
    files.cert === undefined && files.key === undefined
      ? undefined
      : certAndKey(files.cert, files.key, '--region-tls-cert', '--region-tls-key');
  return { ...(ca ? { ca } : {}), ...(own ?? {}) };
}

/**
 * Why a region's URL should not be plain HTTP: tokens and personal data in cleartext over
 * a network. Loopback (one machine) is fine; undefined then.
 */
export function plainHttpWarning(regionId: string, url: string): string | undefined {
  const at = new URL(url);
  if (at.protocol !== 'http:' || isLoopback(at.hostname)) return undefined;
  return `region ${regionId} is reached over plain HTTP at ${at.host}: its node token and users' data cross the network in cleartext; start the node with --tls-cert and --tls-key and give its URL as https://`;
}

/** Whether a listening address or URL host stays on this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

function certAndKey(
  certFile: string | undefined,
  keyFile: string | undefined,
  certFlag: string,
  keyFlag: string,
): { cert: Buffer; key: Buffer } {
  if (certFile === undefined) throw tlsError(`${keyFlag} needs ${certFlag}: give the certificate its key belongs to`);
  if (keyFile === undefined) throw tlsError(`${certFlag} needs ${keyFlag}: give the certificate's private key`);
  const cert = certificates(certFile, certFlag);
  const key = read(keyFile, keyFlag);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw tlsError(`${keyFlag} ${keyFile} holds no PEM private key (an unencrypted "-----BEGIN PRIVATE KEY-----")`);
  }
  if (!new X509Certificate(cert).checkPrivateKey(privateKey))
    throw tlsError(`${keyFlag} ${keyFile} is not the private key of the certificate in ${certFlag} ${certFile}`);
  return { cert, key };
}

/** A file of one or more PEM certificates (the first is checked to parse). */
function certificates(file: string, flag: string): Buffer {
  const pem = read(file, flag);
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificate');
    new X509Certificate(pem);
  } catch {
    throw tlsError(`${flag} ${file} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  return pem;
}

function read(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable by this user' : code;
    throw tlsError(`${flag} ${file} cannot be read (${why})`);
  }
}

function tlsError(message: string): DomicileError {
  return new DomicileError('BAD_REQUEST', message);
}
