import { createHash } from 'node:crypto';
import { DomicileError } from '../errors/domicile-error.js';
import type { Policy } from '../policy/policy-schema.js';

/**
 * A user's consent to one purpose, as the Kantara consent receipt and Fides record it: every
 * decision with the notice it answered (id, version and a hash of what it said), how it was
 * given, under which jurisdiction, when, and from where. History is kept; the newest decision
 * is the one in force; with none, the answer is no (default deny). The ledger rests in the
 * user's home region of each service whose categories need the purpose, sealed like a record
 * (reserved collection `_consent`, one record per purpose), so it moves with the service's
 * data in a migration and is erased with the user.
 */
export const consentCollection = '_consent';
export const decisions = ['grant', 'deny', 'withdraw'] as const;
export type ConsentDecision = (typeof decisions)[number];

export interface NoticeRef {
  id: string;
  version: string;
  /** SHA-256 (hex) of the purpose's id, description and notice, as the policy words them. */
  hash: string;
}

export interface ConsentRecord {
  purpose: string;
  decision: ConsentDecision;
  notice: NoticeRef | null;
  /** How it was given: 'in-app-dialog', 'settings', 'operator', … */
  method: string;
  jurisdiction: string;
  at: number;
  /** Where it came from: 'api:<session id>', 'operator'. */
  source: string;
}

export interface ConsentLedger {
  purpose: string;
  history: ConsentRecord[];
}

/** Users whose ledger of a purpose (in one service) stands at each last decision. */
export interface ConsentStat {
  purpose: string;
  service: string;
  granted: number;
  denied: number;
  withdrawn: number;
  /** Granted against an older notice: asked again. */
  outdated: number;
}

type Purpose = Policy['purposes'][number];

export function findPurpose(policy: Policy, purpose: string): Purpose | undefined {
  return policy.purposes.find((p) => p.id === purpose);
}

/** The notice a decision answers today: the policy's, with a hash of its wording. */
export function currentNotice(purpose: Purpose): NoticeRef | null {
  if (!purpose.notice) return null;
  const hash = createHash('sha256')
    .update(
      JSON.stringify([
        'domicile/notice/v1',
        purpose.id,
        purpose.description,
        purpose.notice.id,
        purpose.notice.version,
      ]),
    )
    .digest('hex');
  return { id: purpose.notice.id, version: purpose.notice.version, hash };
}

/** The categories of a service that need a purpose. */
export function gatedCategories(policy: Policy, service: string, purpose: string): string[] {
  return (
    policy.services
      .find((s) => s.id === service)
      ?.categories.filter((c) => c.consent === purpose)
      .map((c) => c.id) ?? []
  );
}

/** The services with a category that needs the purpose: where its ledger rests. */
export function servicesNeeding(policy: Policy, purpose: string): string[] {
  return policy.services.filter((s) => s.categories.some((c) => c.consent === purpose)).map((s) => s.id);
}

/**
 * Whether the ledger holds a current grant: its newest decision grants, and answered the
 * notice the policy shows today (a reworded notice asks again).
 */
export function grantsNow(ledger: ConsentLedger | undefined, purpose: Purpose): boolean {
  const last = ledger?.history.at(-1);
  if (last?.decision !== 'grant') return false;
  const notice = currentNotice(purpose);
  return notice === null || last.notice?.hash === notice.hash;
}

/** Reads a decrypted ledger; INTEGRITY if it is not what recordConsent writes. */
export function parseLedger(value: unknown, purpose: string): ConsentLedger {
  const v = value as Partial<ConsentLedger> | null;
  if (v === null || typeof v !== 'object' || v.purpose !== purpose || !Array.isArray(v.history)) {
    throw new DomicileError('INTEGRITY', `the consent ledger of purpose ${purpose} is not in the expected shape`);
  }
  return { purpose, history: v.history };
}
