import { resolve } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';
import { loadSecrets } from '../platform/platform.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import { findRegion } from '../policy/placement.js';
import { openRegionNode } from '../region/open-region-node.js';
import { buildRegionServer } from '../region/region-http-server.js';
import { resolvePolicyFile } from './cli-options.js';
import { untilStopped } from './until-stopped.js';

export interface RegionOptions {
  id: string;
  policy?: string | undefined;
  data: string;
  port: number;
  host: string;
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
  const dataDir = resolve(options.data);
  const node = await openRegionNode({ policy, regionId: options.id, dataDir });
  const server = await buildRegionServer({ node, nodeToken: loadSecrets(dataDir).nodeToken });
  await server.listen({ port: options.port, host: options.host });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  process.stdout.write(
    `Region ${options.id} is up at http://${options.host}:${port} (store ${region.store.kind}, data in ${dataDir})\nPress Ctrl-C to stop.\n`,
  );
  await untilStopped();
  await server.close(); // closes the node too
  process.stdout.write('Stopped.\n');
  return 0;
}
