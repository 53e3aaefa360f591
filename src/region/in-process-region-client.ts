import { DomicileError } from '../errors/domicile-error.js';
import { type RegionApi, type RegionClient, type RegionMethod, regionMethods } from './region-client.js';
import type { RegionNode } from './region-node.js';

/**
 * Methods whose results the node builds for the call from JSON.parse of decrypted plaintext
 * (record reads, exports) or afresh: the caller may keep or change them, so they are not copied
 * (the hot path). Any other result is copied through JSON, as the HTTP client's would be.
 */
const freshResults: ReadonlySet<RegionMethod> = new Set<RegionMethod>([
  'openTenancy',
  'putRecord',
  'getRecord',
  'listRecords',
  'listRecordPage',
  'deleteRecord',
  'setCredentials',
  'verifyPassword',
  'exportUsers',
  'readRecordStates',
  'changesSince',
  'importUsers',
  'digestUsers',
  'setTenancies',
  'purgeUsers',
  'exportUser',
  'eraseUser',
  'recordEvents',
  'readAudit',
  'raiseFence',
]);

// The contract's methods: the constructor makes each a call of the node's, from the method list.
export interface InProcessRegionClient extends RegionApi {}

/**
 * The embedded RegionClient: calls a RegionNode in this process. It must behave exactly like
 * the HTTP client, so:
 * - results are JSON-safe copies the caller may keep or change (see freshResults);
 * - a failure is always a DomicileError: anything else (a bug, a driver error) becomes
 *   INTERNAL, as the HTTP server would report it, keeping the original as the cause.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface above
export class InProcessRegionClient implements RegionClient {
  readonly regionId: string;

  constructor(private readonly node: RegionNode) {
    this.regionId = node.regionId;
    const methods = this as unknown as Record<RegionMethod, (req?: unknown) => Promise<unknown>>;
    const nodeMethods = node as unknown as Record<RegionMethod, (req: unknown) => Promise<unknown>>;
    for (const method of regionMethods) {
      const copy = !freshResults.has(method);
      methods[method] = (req) =>
        this.call(async () => {
          const result = await nodeMethods[method].call(node, req ?? {});
          return copy ? jsonCopy(result) : result;
        });
    }
  }

  close(): Promise<void> {
    return this.call(() => this.node.close());
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw asDomicileError(err, this.regionId);
    }
  }
}

function jsonCopy<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** What the HTTP server would send for this failure, as the HTTP client would rebuild it. */
export function asDomicileError(err: unknown, regionId: string): DomicileError {
  if (err instanceof DomicileError) return err;
  return new DomicileError(
    'INTERNAL',
    `region ${regionId} failed: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}
