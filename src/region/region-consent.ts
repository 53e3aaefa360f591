import type { AuditLog, RecordedEvent } from '../audit/audit-log.js';
import {
  type ConsentDecision,
  type ConsentLedger,
  type ConsentRecord,
  type ConsentStat,
  consentCollection,
  currentNotice,
  findPurpose,
  gatedCategories,
  grantsNow,
  parseLedger,
} from '../consent/consent-ledger.js';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import { findCategory } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { RegionStore } from '../store/region-store.js';
import { checkTenancy } from '../store/tenancy-guard.js';
import { categoryScope, type KeyHierarchy } from './key-hierarchy.js';
import { sealValue } from './record-crypto.js';
import type { TenantRef } from './region-client.js';

export interface ConsentRequest extends TenantRef {
  purpose: string;
  decision: ConsentDecision;
  /** The notice version the user was shown; a grant must answer the current one. */
  noticeVersion?: string | undefined;
  method: string;
  source: string;
}

/** Decisions a ledger keeps per purpose (about 300 bytes each). */
export const maxHistory = 200;

function bad(field: string, message: string): DomicileError {
  return new DomicileError('BAD_REQUEST', message, { details: { field } });
}

/**
 * Consent where the data rests: a region keeps each user's ledger per purpose for the services
 * it homes, refuses (CONSENT_REQUIRED, naming the purpose) to store a record of a category
 * that needs a purpose without a current grant, and on any decision other than a grant deletes
 * that purpose's categories and shreds their keys in the decision's own transaction, with the
 * decision and the shred in the audit log.
 */
export class RegionConsent {
  constructor(
    private readonly regionId: string,
    private readonly policy: Policy,
    private readonly store: RegionStore,
    private readonly hierarchy: KeyHierarchy,
    private readonly audit: AuditLog,
  ) {}

  /** The purpose a category of a service needs, if any. */
  purposeOf(service: string, collection: string): string | undefined {
    return findCategory(this.policy, service, collection)?.consent;
  }

  /** The user's ledger of a purpose and the version of its record (absent: no decision yet). */
  async ledger(
    ref: { userId: string; service: string },
    purpose: string,
  ): Promise<{ ledger: ConsentLedger; version: number } | undefined> {
    // The ledger's key is the purpose, stored as its keyId like every record key (one rule).
    const names = await this.hierarchy.names(ref.userId, false);
    const stored =
      names &&
      (await this.store.getRecord(ref.userId, ref.service, consentCollection, names.keyId(consentCollection, purpose)));
    if (!stored) return undefined;
    return {
      ledger: parseLedger(await this.hierarchy.openRecord(stored, consentCollection), purpose),
      version: stored.version,
    };
  }

  /**
   * Refuses unless the user holds a current grant of the purpose; returns the version of the
   * ledger record that granted it, for the write to require in its own transaction.
   */
  async requireGrant(ref: TenantRef, purpose: string): Promise<number> {
    const p = findPurpose(this.policy, purpose);
    const found = await this.ledger(ref, purpose);
    if (!p || !grantsNow(found?.ledger, p)) {
      const why = found?.ledger.history.length
        ? `the last decision is "${found.ledger.history.at(-1)!.decision}"${found.ledger.history.at(-1)!.decision === 'grant' ? ' for an older notice' : ''}`
        : 'no consent was given';
      throw new DomicileError(
        'CONSENT_REQUIRED',
        `storing this needs consent to "${purpose}", and ${why}: ask the user and record a grant (PUT /v1/me/consents/${purpose}) first`,
        {
          details: { purpose },
        },
      );
    }
    return found!.version;
  }

  /** Whether an error is a write refused because the ledger changed under it (retry once). */
  static ledgerChanged(err: unknown): boolean {
    return isDomicileError(err, 'CONFLICT') && err.details?.requires !== undefined;
  }

  async decide(req: ConsentRequest): Promise<ConsentLedger> {
    const { userId, service, epoch } = req;
    // Each field's form was checked by the region contract (parseRegionInput); what depends on the policy is checked here.
    const { purpose, decision, method, source } = req;
    const p = findPurpose(this.policy, purpose);
    const shredable = gatedCategories(this.policy, service, purpose);
    if (!p || shredable.length === 0) {
      const here = this.policy.purposes
        .filter((x) => gatedCategories(this.policy, service, x.id).length > 0)
        .map((x) => x.id);
      throw bad(
        'purpose',
        `purpose "${purpose}" gates no category of service ${service} in policy "${this.policy.name}"; this service's purposes: ${here.join(', ') || '(none)'}`,
      );
    }
    const notice = currentNotice(p);
    if (decision === 'grant' && notice && req.noticeVersion !== notice.version) {
      throw new DomicileError(
        'CONFLICT',
        `a grant of "${purpose}" answers notice ${notice.id} version ${notice.version}, not ${req.noticeVersion === undefined ? 'none' : `"${req.noticeVersion}"`}: show the user the current notice and send its version`,
        {
          details: { field: 'noticeVersion', notice: { id: notice.id, version: notice.version } },
        },
      );
    }
    // Served here at this epoch, before any key is made.
    const tenancy = checkTenancy(await this.store.getTenancy(userId, service), userId, service, epoch);
    const jurisdiction = this.policy.markets.find((m) => m.country === tenancy.market)?.jurisdiction ?? tenancy.market;
    const current = await this.ledger(req, purpose);
    const record: ConsentRecord = { purpose, decision, notice, method, jurisdiction, at: Date.now(), source };
    // The newest decisions only: a ledger must fit a record, and a migration's import, however
    // often a user changes their mind. Every decision is in the audit log regardless.
    const ledger: ConsentLedger = { purpose, history: [...(current?.ledger.history ?? []), record].slice(-maxHistory) };
    const key = await this.hierarchy.categoryKey(userId, categoryScope(service, consentCollection), true);
    const names = await this.hierarchy.names(userId, true);
    const keyId = names.keyId(consentCollection, purpose);
    const ifVersion = current?.version ?? 0;
    // Sealed for the version the store will give it (ifVersion + 1, or CONFLICT).
    const ciphertext = sealValue(key, Buffer.from(JSON.stringify(ledger), 'utf8'), {
      regionId: this.regionId,
      userId,
      service,
      collection: consentCollection,
      key: keyId,
      version: ifVersion + 1,
    });
    const sealedKey = names.seal(service, consentCollection, keyId, purpose);
    const shred = decision === 'grant' ? [] : shredable;
    const events: RecordedEvent[] = [
      {
        id: null,
        event: { type: 'consent', user: userId, service, purpose, decision, notice, jurisdiction, method, source },
      },
    ];
    const wasGranted = current?.ledger.history.at(-1)?.decision === 'grant';
    if (shred.length > 0 && wasGranted) {
      events.push({
        id: null,
        event: {
          type: 'key-shred',
          users: [userId],
          scopes: shred.map((c) => categoryScope(service, c)),
          reason: 'consent-withdrawn',
        },
      });
    }
    await this.audit.append(events, (audit) =>
      this.store.decideConsent({
        userId,
        service,
        epoch,
        collection: consentCollection,
        key: keyId,
        ciphertext,
        sealedKey,
        ifVersion,
        shred,
        audit,
      }),
    );
    // Shredded keys must not be served from memory either.
    for (const category of shred) this.hierarchy.forget(userId, categoryScope(service, category));
    return ledger;
  }

  /**
   * How many users' ledgers here stand at a current grant, and at each other last decision, per
   * purpose and service: counts only, for an operator; decrypted here, nothing else leaves.
   */
  async stats(): Promise<ConsentStat[]> {
    const out = new Map<string, ConsentStat>();
    for (const stored of await this.store.recordsOfCollection(consentCollection)) {
      const names = await this.hierarchy.names(stored.userId, false);
      if (!names) continue;
      const purpose = names.open(stored.service, consentCollection, stored.key, stored.sealedKey);
      const ledger = parseLedger(await this.hierarchy.openRecord(stored, consentCollection), purpose);
      const p = findPurpose(this.policy, purpose);
      const last = ledger.history.at(-1);
      if (!p || !last) continue;
      const id = `${purpose}\u0000${stored.service}`;
      const stat = out.get(id) ?? {
        purpose,
        service: stored.service,
        granted: 0,
        denied: 0,
        withdrawn: 0,
        outdated: 0,
      };
      if (grantsNow(ledger, p)) stat.granted++;
      else if (last.decision === 'grant') stat.outdated++;
      else if (last.decision === 'deny') stat.denied++;
      else stat.withdrawn++;
      out.set(id, stat);
    }
    return [...out.values()];
  }

  /** Every purpose that gates a category of the service, with the user's ledger (empty: never asked). */
  async readAll(ref: TenantRef): Promise<ConsentLedger[]> {
    checkTenancy(await this.store.getTenancy(ref.userId, ref.service), ref.userId, ref.service, ref.epoch);
    const out: ConsentLedger[] = [];
    for (const p of this.policy.purposes) {
      if (gatedCategories(this.policy, ref.service, p.id).length === 0) continue;
      out.push((await this.ledger(ref, p.id))?.ledger ?? { purpose: p.id, history: [] });
    }
    return out;
  }
}
