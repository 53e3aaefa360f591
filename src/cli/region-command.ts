import { resolve } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';
import { loadSecrets } from '../platform/platform.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import { findRegion } from '../policy/placement.js';
import { openRegionNode } from '../region/open-region-node.js';
import { buildRegionServer } from '../region/region-http-server.js';
import { isLoopback, loadNodeTls } from '../region/region-tls.js';
import { resolvePolicyFile } from './cli-options.js';
import { untilStopped } from './until-stopped.js';

export interface RegionOptions {
  id: string;
  policy?: string | undefined;
  data: string;
  port: number;
  host: string;
  /** Serve HTTPS with this certificate and key (PEM files); with clientCa, mutual TLS. */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsClientCa?: string | undefined;
}

/** `domicile region --id ID`: one region's node as its own process, reached over HTTP. */
export async function runRegion(options: RegionOptions): Promise<number> {
  const policy = await loadPolicyFile(resolvePolicyFile(options.policy));
  const region = findRegion(policy, options.id);
  if (!region) {
    throw new DomicileError(
      'BAD_REQUEST',
      `policy "${policy.name}" has no region "${options.id}"; use one of: ${policy.regions.map((r) => r.id).join(', ')}`,
    );
  }
  if (region.status === 'planned') {
    throw new DomicileError(
      'BAD_REQUEST',
      `region ${options.id} is planned in policy "${policy.name}": activate it in the policy before starting its node`,
    );
  }
  // Read and checked before the node opens: a wrong file stops the start, not the first call.
  const tls = loadNodeTls({ cert: options.tlsCert, key: options.tlsKey, clientCa: options.tlsClientCa });
  if (!tls && !isLoopback(options.host)) {
    process.stderr.write(
      `domicile: warning: region ${options.id} serves plain HTTP on ${options.host}: its callers' node token and users' data cross the network in cleartext; give --tls-cert and --tls-key (and --tls-client-ca for mutual TLS)\n`,
    );
  }
  const dataDir = resolve(options.data);
  const node = await openRegionNode({ policy, regionId: options.id, dataDir });
  const server = await buildRegionServer({ node, nodeToken: loadSecrets(dataDir).nodeToken, tls });
  await server.listen({ port: options.port, host: options.host });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const security = tls ? (tls.requestCert ? ', mutual TLS' : ', TLS') : '';
  process.stdout.write(
    `Region ${options.id} is up at ${tls ? 'https' : 'http'}://${host}:${port} (store ${region.store.kind}${security}, data in ${dataDir})\nPress Ctrl-C to stop.\n`,
  );
  await untilStopped();
  await server.close(); // closes the node too
  process.stdout.write('Stopped.\n');
  return 0;
}
