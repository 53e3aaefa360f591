import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  /** The CA's certificate (PEM file). */
  cert: string;
  key: string;
  /** A certificate this CA signs (PEM files of it and its key), for 127.0.0.1 as a server, or as a client. */
  issue(name: string, use: 'server' | 'client'): { cert: string; key: string };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A throwaway certificate authority made with openssl in a test's temporary folder (P-256 keys,
 * valid for a day): nothing of it is committed, and every run makes its own.
 */
export function makeTestCa(dir: string, name: string): TestCa {
  const cert = join(dir, `${name}-ca.pem`);
  const key = join(dir, `${name}-ca.key`);
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...curve,
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    `/CN=${name} test CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return {
    cert,
    key,
    issue(leaf, use) {
      const leafKey = join(dir, `${name}-${leaf}.key`);
      const csr = join(dir, `${name}-${leaf}.csr`);
      const leafCert = join(dir, `${name}-${leaf}.pem`);
      const ext = join(dir, `${name}-${leaf}.ext`);
      writeFileSync(
        ext,
        use === 'server'
          ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
          : 'extendedKeyUsage=clientAuth\n',
      );
      openssl(['req', ...curve, '-keyout', leafKey, '-out', csr, '-subj', `/CN=${leaf}`]);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        cert,
        '-CAkey',
        key,
        '-CAcreateserial',
        '-out',
        leafCert,
        '-days',
        '1',
        '-extfile',
        ext,
      ]);
      return { cert: leafCert, key: leafKey };
    },
  };
}
