import type { AuditLog } from '../audit/audit-log.js';
import { consentCollection, parseLedger } from '../consent/consent-ledger.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { Policy } from '../policy/policy-schema.js';
import type { RegionStore, StoredRecord } from '../store/region-store.js';
import { credentialsCollection, parseCredentials } from './credentials.js';
import type { KeyHierarchy } from './key-hierarchy.js';
import { storedCategory } from './policy-checks.js';
import { listedView } from './readable-view.js';
import { maxRecordPage } from './record-cursor.js';
import { byName, partMark } from './record-names.js';
import { hasParts } from './record-parts.js';
import type { RegionExport } from './region-client.js';

/**
 * A region's side of data subject requests: an export of everything it holds of a user,
 * decrypted, and an erasure that deletes every record, key and tenancy of the user in one
 * transaction (scrubbed from the files), each recorded in the audit log under the request's id
 * so that a retried request is recorded, and erases, once.
 */
export class RegionDsar {
  constructor(
    private readonly regionId: string,
    private readonly policy: Policy,
    private readonly store: RegionStore,
    private readonly hierarchy: KeyHierarchy,
    private readonly audit: AuditLog,
  ) {}

  async exportUser(req: { userId: string; request: string }): Promise<RegionExport> {
    // Checked by the region contract (parseRegionInput) before it gets here.
    const { userId, request } = req;
    const out: RegionExport = { region: this.regionId, services: [] };
    for (const service of this.policy.services) {
      const tenancy = await this.store.getTenancy(userId, service.id);
      if (!tenancy) continue;
      const part: RegionExport['services'][number] = {
        service: service.id,
        market: tenancy.market,
        status: tenancy.status,
        epoch: tenancy.epoch,
        records: [],
        consents: [],
      };
      for await (const stored of this.storedRecords(
        userId,
        service.id,
        service.categories.map((c) => c.id),
      )) {
        const names = await this.hierarchy.names(userId, false);
        if (!names)
          throw new DomicileError(
            'INTEGRITY',
            `user ${userId} has ${service.id} records in region ${this.regionId} but no user key to name them with (was it shredded?)`,
          );
        // The client's key, not the keyId the store holds.
        const key = names.open(stored.service, stored.collection, stored.key, stored.sealedKey);
        if (hasParts(stored.service, stored.collection) && key.includes(partMark)) continue;
        if (stored.collection === consentCollection) part.consents.push(parseLedger(await this.open(stored), key));
        else if (stored.collection === credentialsCollection) {
          const { phone, email } = parseCredentials(await this.open(stored));
          part.credentials = { ...(phone === undefined ? {} : { phone }), ...(email === undefined ? {} : { email }) };
        } else {
          // A data subject's export is never blocked by one record of theirs: it is given marked.
          part.records.push(await listedView(stored, key, () => this.open(stored)));
        }
      }
      part.records.sort(byName);
      out.services.push(part);
    }
    await this.audit.record([
      { id: `dsar:${request}:export`, event: { type: 'dsar', request, kind: 'export', user: userId } },
    ]);
    return out;
  }

  async eraseUser(req: {
    userId: string;
    request: string;
  }): Promise<{ records: number; keys: number; tenancies: number }> {
    // Checked by the region contract (parseRegionInput) before it gets here.
    const { userId, request } = req;
    const id = `dsar:${request}:erase`;
    // Recorded in the erasure's own transaction: if it is there, so is the erasure.
    if ((await this.store.auditSeqOfEvent(id)) !== undefined) return { records: 0, keys: 0, tenancies: 0 };
    const result = await this.audit.append(
      [
        { id, event: { type: 'dsar', request, kind: 'erase', user: userId } },
        { id: null, event: { type: 'key-shred', users: [userId], scopes: ['*'], reason: 'erasure' } },
      ],
      (audit) => this.store.eraseUser(userId, audit),
    );
    this.hierarchy.forget(userId);
    return result;
  }

  /**
   * A user's records of a service, a page of each collection at a time: the policy's categories
   * and the platform's own (consents, credentials). The parts of records (a photo's chunks, whose
   * bytes the owner downloads) are left out in the store, never read: an export of gigabytes of
   * photos would pass what one answer can hold.
   */
  private async *storedRecords(userId: string, service: string, categories: string[]): AsyncGenerator<StoredRecord> {
    for (const collection of [...new Set([...categories, consentCollection, credentialsCollection])]) {
      let after: string | undefined;
      for (;;) {
        const page = await this.store.listRecords(userId, service, collection, {
          after,
          limit: maxRecordPage,
          withoutParts: hasParts(service, collection),
        });
        yield* page;
        if (page.length < maxRecordPage) break;
        after = page.at(-1)!.key;
      }
    }
  }

  private open(stored: StoredRecord): Promise<unknown> {
    return this.hierarchy.openRecord(stored, storedCategory(stored.collection));
  }
}
