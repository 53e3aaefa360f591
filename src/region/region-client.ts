import { z } from 'zod';
import { type AuditEvent, auditEventSchema } from '../audit/audit-event.js';
import type { Checkpoint } from '../audit/checkpoint.js';
import { type ConsentLedger, type ConsentStat, decisions } from '../consent/consent-ledger.js';
import type { PlacementStat, Tenancy } from '../store/region-store.js';
import { maxRecordPage } from './record-cursor.js';
import {
  badRequest,
  collectionId,
  epoch,
  idField,
  ifVersion,
  market,
  parseField,
  recordKey,
  serviceId,
  stringField,
  tenantRef,
  userId,
  wholeField,
} from './region-fields.js';

/**
 * The region contract: the only way anything outside a region reaches it, written once. Each
 * method has a schema of its input and of its output; the TypeScript types below are inferred
 * from them, the node checks every request with them (parseRegionInput), the HTTP client and
 * the in-process client are built from the method list, and the region's HTTP server dispatches
 * by it. Adding a method is one entry here plus its implementation in RegionNode.
 *
 * Two clients implement it: in-process (the embedded default: every region in the `domicile up`
 * process) and HTTP (`domicile region --id ID`, one process per region). Every argument and
 * result is plain JSON so the two behave the same; failures are DomicileErrors with the same
 * codes. What depends on the policy (a service it names, a collection of that service, a region
 * a user moved to) the node checks after the schema, since a schema cannot know the policy.
 *
 * Plaintext crosses this boundary only between the gateway (or the migration coordinator)
 * and the user's own home region; keys never do.
 */

/** Most users one call about a batch names: a sanity bound, far above any sensible batch. */
export const maxExportUsers = 10_000;
/** Most records one readRecordStates or importUsers call names. */
export const maxRecordRefs = 100_000;
/** Most change-log entries one changesSince call returns. */
export const maxChangesPage = 10_000;

export const tenancyStatuses = ['home', 'fenced', 'moved', 'incoming'] as const;

function boundedArray<T extends z.ZodType>(field: string, item: T, max: number) {
  return z.array(item, { error: `${field} is an array` }).refine((a) => a.length <= max, {
    error: (issue) =>
      `${field} holds at most ${max} entries per call, not ${(issue.input as unknown[]).length}: split the batch`,
    abort: true,
  });
}

/** Entries of an array that name a user once each. */
function oncePerUser<T extends { userId: string }>(field: string) {
  return (entries: T[], ctx: z.RefinementCtx) => {
    const seen = new Set<string>();
    for (const entry of entries) {
      if (seen.has(entry.userId))
        ctx.addIssue({ code: 'custom', message: `${field} names user ${entry.userId} twice` });
      seen.add(entry.userId);
    }
  };
}

function entryOf<S extends z.ZodRawShape>(field: string, shape: S, what: string) {
  return z.object(shape, { error: `each entry of ${field} is ${what}` });
}

const digestKey = z
  .string({ error: 'digestKey is 32 bytes in lower-case hex (64 characters)' })
  .regex(/^[0-9a-f]{64}$/, 'digestKey is 32 bytes in lower-case hex (64 characters)')
  .optional();

const userIds = boundedArray('userIds', idField('userIds'), maxExportUsers).refine(
  (ids) => new Set(ids).size === ids.length,
  'userIds names a user twice',
);

/**
 * A field the node checks itself, after the schema, since its rules depend on more than its
 * form: a record's name in a migration primitive (which keys a collection holds depends on the
 * policy and the collection: a consent ledger's key is a purpose, the credentials record's is
 * "login"; see movedCategory in policy-checks.ts), and a password (password.ts's checkPassword).
 * Any value passes here; it is typed as what callers send.
 */
const checkedByNode = () => z.unknown().optional() as unknown as z.ZodType<string, string>;
const recordRef = (field: string) =>
  entryOf(field, { collection: checkedByNode(), key: checkedByNode() }, 'an object { collection, key }');

const movedRecord = entryOf(
  'states.records',
  {
    collection: checkedByNode(),
    key: checkedByNode(),
    version: wholeField('version', 1, 'the version the source gave the record'),
    updatedAt: wholeField('updatedAt', 0, 'milliseconds since 1970'),
    value: z.unknown().optional(),
  },
  'a record { collection, key, version, updatedAt, value }',
);

const recordStates = z
  .object(
    {
      records: boundedArray('states.records', movedRecord, maxRecordRefs),
      deleted: boundedArray('states.deleted', recordRef('states.deleted'), maxRecordRefs),
    },
    { error: 'states is an object { records, deleted }' },
  )
  .superRefine((s, ctx) => {
    if (s.records.length + s.deleted.length > maxRecordRefs) {
      ctx.addIssue({
        code: 'custom',
        message: `states names at most ${maxRecordRefs} records per call: split the batch`,
      });
    }
  });

const userImport = entryOf(
  'users',
  { userId, market, epoch, states: recordStates },
  'an object { userId, market, epoch, states }',
);
const userImports = boundedArray('users', userImport, maxExportUsers)
  .superRefine(oncePerUser('users'))
  .superRefine((users, ctx) => {
    const records = users.reduce((n, u) => n + u.states.records.length + u.states.deleted.length, 0);
    if (records > maxRecordRefs)
      ctx.addIssue({
        code: 'custom',
        message: `users name at most ${maxRecordRefs} records per call: split the batch`,
      });
  });

const tenancyChange = entryOf(
  'tenancies',
  {
    userId,
    market,
    epoch: wholeField('epoch', 1, 'the directory epoch the tenancy is at'),
    status: z.enum(tenancyStatuses, { error: `status is one of: ${tenancyStatuses.join(', ')}` }),
    // Whether a region may be named here depends on the status and the policy: the node checks it.
    movedTo: z.string({ error: 'movedTo is the region the user went to, or null' }).nullable().optional(),
  },
  'an object { userId, market, epoch, status, movedTo }',
);

const auditEvents = boundedArray(
  'events',
  entryOf(
    'events',
    {
      id: idField('events.id', 200).nullable(),
      // Checked against the audit event schema below, to say where an event is malformed.
      event: z.unknown().optional() as unknown as z.ZodType<AuditEvent, AuditEvent>,
    },
    'an object { id, event }',
  ),
  1_000,
).transform((entries, ctx) =>
  entries.map(({ id, event }) => {
    const parsed = auditEventSchema.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      ctx.addIssue({
        code: 'custom',
        path: ['event'],
        message: `an audit event is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown problem'}`,
      });
      return z.NEVER;
    }
    return { id, event: parsed.data };
  }),
);

/**
 * A migration coordinator's fencing token, on every migration primitive it calls: the migration
 * and the coordinator's lead token (raised each time a coordinator takes the lead). A region
 * remembers the newest token per migration and refuses an older one (STALE_LEADER), so a
 * coordinator that lost its lead mid-step cannot act after its successor has. Optional: other
 * callers of these methods (a device's sync, a data subject request's audit) are no migration.
 */
const fenceField = z.object(
  {
    migration: idField('fence.migration'),
    token: wholeField('fence.token', 1, "the migration coordinator's lead token"),
  },
  { error: 'fence is an object { migration, token }' },
);
const fence = fenceField.optional();

const afterSeq = wholeField('afterSeq', 0, 'the last change sequence number already seen; 0 for the start');
const changesLimit = wholeField('limit', 1, `changes per page, at most ${maxChangesPage}`).refine(
  (n) => n <= maxChangesPage,
  { error: (issue) => `limit is at most ${maxChangesPage}, not ${String(issue.input)}` },
);

// What results hold.

const recordView = z.object({
  collection: z.string(),
  key: z.string(),
  version: z.number(),
  updatedAt: z.number(),
  /** null when the value cannot be read back (see `unreadable`). */
  value: z.unknown(),
  /**
   * Why the value is not given (it nests deeper than any reader can serialise, or it failed its
   * integrity check): a listing, sync or export gives the rest, and says so for this one.
   */
  unreadable: z.string().optional(),
});

const movedRecordView = z.object({
  collection: z.string(),
  key: z.string(),
  version: z.number(),
  updatedAt: z.number(),
  value: z.unknown(),
});
/**
 * A record as its region exports it: with the keyed hash (hex) of its plaintext JSON and that
 * plaintext's size, both computed in the region that decrypted it, so the coordinator can
 * verify a copy without decrypting the source a second time.
 */
const exportedRecord = movedRecordView.extend({ hash: z.string(), bytes: z.number() });
const deletedRef = z.object({ collection: z.string(), key: z.string() });

const collectionHolding = z.object({ collection: z.string(), records: z.number(), bytes: z.number() });
const userHolding = z.object({
  service: z.string(),
  /** '' when the region has no tenancy of the user's service (only other rows name them). */
  market: z.string(),
  /** 'none': no tenancy, yet rows of the service still name the user here. */
  status: z.enum([...tenancyStatuses, 'none']),
  epoch: z.number(),
  movedTo: z.string().nullable(),
  keys: z.number(),
  collections: z.array(collectionHolding),
  /** Change-log entries of the user's service here. */
  changes: z.number(),
  /** The region does not serve the user's service (no tenancy, or 'moved') yet rows here name them. */
  residue: z.boolean(),
});

const changeView = z.object({
  seq: z.number(),
  userId: z.string(),
  service: z.string(),
  collection: z.string(),
  key: z.string(),
  op: z.enum(['put', 'delete']),
  version: z.number(),
});

/** Per record: collection, key, version and keyed hash of the plaintext JSON; equal on both sides after a copy. */
const userDigest = z.object({
  userId: z.string(),
  digest: z.string(),
  records: z.array(z.object({ collection: z.string(), key: z.string(), version: z.number(), hash: z.string() })),
});

/** A page of a region's audit log, as a verifier reads it: the raw entries and the checkpoints over them. */
const auditPage = z.object({
  region: z.string(),
  /** The region's Ed25519 public key (SPKI, base64), to pin. */
  publicKey: z.string(),
  /** Entries in the log now. */
  size: z.number(),
  entries: z.array(z.object({ seq: z.number(), entry: z.string(), leafHash: z.string() })),
  /** Checkpoints whose size falls in this page's range of seqs. */
  checkpoints: z.array(z.custom<Checkpoint>()),
});

// Results whose shape the module that makes them declares (as a TypeScript type): the contract names them.
const consentLedger = z.custom<ConsentLedger>();

export const regionContract = {
  health: {
    input: z.object({}),
    output: z.object({ regionId: z.string(), backend: z.enum(['sqlite', 'postgres']), lastSeq: z.number() }),
  },

  /** Makes this region the user's home for a service at an epoch (new users). */
  openTenancy: { input: tenantRef.extend({ market }), output: z.void() },

  putRecord: {
    input: tenantRef.extend({
      collection: collectionId,
      key: recordKey,
      value: z.unknown().optional(),
      ifVersion: ifVersion.optional(),
    }),
    output: z.object({ version: z.number(), updatedAt: z.number() }),
  },
  getRecord: { input: tenantRef.extend({ collection: collectionId, key: recordKey }), output: recordView.nullable() },
  listRecords: { input: tenantRef.extend({ collection: collectionId.optional() }), output: z.array(recordView) },
  /** One page of a collection, in the store's order; `cursor` (opaque) from the previous page, null after the last. */
  listRecordPage: {
    input: tenantRef.extend({
      collection: collectionId,
      limit: z
        .number({ error: `limit is a whole number of records from 1 to ${maxRecordPage}` })
        .int(`limit is a whole number of records from 1 to ${maxRecordPage}`)
        .min(1, `limit is a whole number of records from 1 to ${maxRecordPage}`)
        .max(maxRecordPage, `limit is a whole number of records from 1 to ${maxRecordPage}`),
      /** Where the previous page ended; none for the first. */
      cursor: stringField('cursor').optional(),
      /** Leave out the parts of records (keys with `~`: a photo's chunks), never reading their bodies. */
      withoutParts: z.boolean({ error: 'withoutParts is true or false' }).optional(),
    }),
    output: z.object({ records: z.array(recordView), cursor: z.string().nullable() }),
  },
  deleteRecord: {
    input: tenantRef.extend({ collection: collectionId, key: recordKey, ifVersion: ifVersion.optional() }),
    output: z.object({ deleted: z.boolean() }),
  },

  /** Stores the user's login identifiers and a scrypt hash of the password, encrypted, in the region. */
  setCredentials: {
    // The password's own rules are password.ts's (checkPassword), which the node applies.
    input: tenantRef.extend({
      phone: stringField('phone').optional(),
      email: stringField('email').optional(),
      password: checkedByNode(),
    }),
    output: z.void(),
  },
  /** True when the password matches; the hash never leaves the region. */
  verifyPassword: { input: tenantRef.extend({ password: checkedByNode() }), output: z.boolean() },

  placementStats: { input: z.object({}), output: z.array(z.custom<PlacementStat>()) },
  describeUser: { input: z.object({ userId }), output: z.array(userHolding) },

  // Migration primitives (the coordinator in src/migrate calls these; no key material crosses).

  /** Decrypts in this (source) region every record of the users for a service. */
  exportUsers: {
    input: z.object({ service: serviceId, userIds, digestKey, fence }),
    output: z.array(z.object({ userId: z.string(), market: z.string(), records: z.array(exportedRecord) })),
  },
  /** Current state of the named records of one user (for catch-up): values, or deleted. */
  readRecordStates: {
    input: z.object({
      service: serviceId,
      userId,
      refs: boundedArray('refs', recordRef('refs'), maxRecordRefs),
      digestKey,
      fence,
    }),
    output: z.object({ records: z.array(exportedRecord), deleted: z.array(deletedRef) }),
  },
  /**
   * Change-log entries after a sequence number, oldest first, optionally of one service (and
   * user). With an epoch (and userId and service), a request routed to the user's home: refused
   * (WRONG_REGION, STALE_EPOCH, FENCED) unless this region serves the user at that epoch.
   */
  changesSince: {
    input: z.object({
      afterSeq,
      limit: changesLimit,
      service: serviceId.optional(),
      userId: userId.optional(),
      epoch: epoch.optional(),
      fence,
    }),
    output: z.object({ changes: z.array(changeView), lastSeq: z.number() }),
  },
  /**
   * Imports users' records into this (destination, or for a rollback the source) region under
   * its own fresh keys, keeping the source's version numbers, idempotently: applying the same
   * state twice changes nothing. Creates a tenancy as 'incoming' where absent. Allowed
   * whatever the tenancy's status except 'home' (a home region's data is changed only by its
   * users). All the users in one transaction: one refused user refuses the call.
   */
  importUsers: {
    input: z.object({ service: serviceId, users: userImports, fence }),
    output: z.object({ applied: z.number() }),
  },
  /** Digests of every record of each user for a service, computed on the decrypted plaintext. */
  digestUsers: { input: z.object({ service: serviceId, userIds, digestKey, fence }), output: z.array(userDigest) },
  /** Sets users' tenancies for a service (fence, flip, unfence, roll back), in one transaction. */
  setTenancies: {
    input: z.object({
      service: serviceId,
      tenancies: boundedArray('tenancies', tenancyChange, maxExportUsers).superRefine(oncePerUser('tenancies')),
      fence,
    }),
    output: z.void(),
  },
  /** Shreds the users' keys for a service and deletes their records; the tenancies stay (as 'moved'). Audited as a key shred. */
  purgeUsers: {
    input: z.object({
      service: serviceId,
      userIds,
      reason: z
        .enum(['migration-complete', 'migration-rollback'], {
          error: 'reason is migration-complete or migration-rollback',
        })
        .optional(),
      fence,
    }),
    output: z.object({ records: z.number(), keys: z.number() }),
  },
  /**
   * A coordinator that takes the lead raises its token in every region of the migration before
   * it acts, so that its predecessor's next primitive anywhere is refused; waits for the
   * migration's primitives already admitted here to finish. STALE_LEADER if a newer token was seen.
   */
  raiseFence: { input: z.object({ fence: fenceField }), output: z.object({ token: z.number() }) },

  // Consent, in the user's home region of a service whose categories need the purpose.

  /** Records a decision; anything but a grant deletes the purpose's categories and shreds their keys. */
  recordConsent: {
    input: tenantRef.extend({
      purpose: idField('purpose', 63),
      decision: z.enum(decisions, { error: `decision is one of: ${decisions.join(', ')}` }),
      noticeVersion: stringField('noticeVersion').optional(),
      method: idField('method', 64),
      source: idField('source', 128),
    }),
    output: consentLedger,
  },
  /** The user's ledger of every purpose that gates one of the service's categories. */
  readConsents: { input: tenantRef, output: z.array(consentLedger) },
  /** Counts of the ledgers here by last decision, per purpose and service. */
  consentStats: { input: z.object({}), output: z.array(z.custom<ConsentStat>()) },

  // Data subject requests: whatever the user's tenancy here, and recorded under the request's id.

  exportUser: { input: z.object({ userId, request: idField('request') }), output: z.custom<RegionExport>() },
  eraseUser: {
    input: z.object({ userId, request: idField('request') }),
    output: z.object({ records: z.number(), keys: z.number(), tenancies: z.number() }),
  },

  // The region's audit log.

  /** Records events (transfers, requests) the caller answers for; an event whose id is recorded already is not recorded again. */
  recordEvents: { input: z.object({ events: auditEvents, fence }), output: z.object({ seqs: z.array(z.number()) }) },
  readAudit: { input: z.object({ afterSeq, limit: changesLimit }), output: auditPage },
} satisfies Record<string, { input: z.ZodType; output: z.ZodType }>;

export type RegionContract = typeof regionContract;
export type RegionMethod = keyof RegionContract;
export const regionMethods = Object.keys(regionContract) as RegionMethod[];

/** The methods that take a migration coordinator's fencing token (`fence`): the migration primitives. */
export const fencedMethods: readonly RegionMethod[] = regionMethods.filter((method) => {
  const input = regionContract[method].input as z.ZodType;
  return input instanceof z.ZodObject && 'fence' in input.shape;
});

export type Fence = z.output<typeof fenceField>;

/** What a caller sends to a method (before the node's checks). */
export type RegionInput<M extends RegionMethod> = z.input<RegionContract[M]['input']>;
/** What a method's checks make of its input. */
export type RegionRequest<M extends RegionMethod> = z.output<RegionContract[M]['input']>;
export type RegionOutput<M extends RegionMethod> = z.output<RegionContract[M]['output']>;

/** Every method of the contract, as a client (or the node) offers it; one that takes nothing may be called without an argument. */
export type RegionApi = {
  // biome-ignore lint/complexity/noBannedTypes: `{} extends Input` asks whether every field of the input is optional
  [M in RegionMethod]: {} extends RegionInput<M>
    ? (req?: RegionInput<M>) => Promise<RegionOutput<M>>
    : (req: RegionInput<M>) => Promise<RegionOutput<M>>;
};

export interface RegionClient extends RegionApi {
  readonly regionId: string;
  close(): Promise<void>;
}

/**
 * Checks a request against its method's schema, as the node does first: the in-process and
 * HTTP clients then refuse the same inputs with the same messages (BAD_REQUEST naming the field).
 */
export function parseRegionInput<M extends RegionMethod>(method: M, req: unknown): RegionRequest<M> {
  if (req === null || typeof req !== 'object' || Array.isArray(req))
    throw badRequest('body', `${method} takes an object of named arguments`);
  return parseField(regionContract[method].input, req) as RegionRequest<M>;
}

/** A request's user reference alone, checked (the node checks whom a request is about before the rest). */
export function parseTenantRef(req: unknown, method: RegionMethod): TenantRef {
  if (req === null || typeof req !== 'object' || Array.isArray(req))
    throw badRequest('body', `${method} takes an object of named arguments`);
  return parseField(tenantRef, req);
}

export type TenantRef = z.output<typeof tenantRef>;
export type RecordView = z.output<typeof recordView>;
export type RecordPageRequest = RegionInput<'listRecordPage'>;
export type RecordPageView = RegionOutput<'listRecordPage'>;
export type RegionHealth = RegionOutput<'health'>;
export type CollectionHolding = z.output<typeof collectionHolding>;
/** What one region holds of one user, per service (for `domicile where`). */
export type UserHolding = z.output<typeof userHolding>;
/** A record as it crosses regions during a migration: decrypted in the source, re-sealed in the destination. */
export type MovedRecord = z.output<typeof movedRecordView>;
export type ExportedRecord = z.output<typeof exportedRecord>;
/** One user's data of one service, exported by the source region. */
export type ExportedUser = RegionOutput<'exportUsers'>[number];
/** The current state of records named by change-log entries: present ones, and deleted ones. */
export interface RecordStates<R extends MovedRecord = MovedRecord> {
  records: R[];
  deleted: Array<{ collection: string; key: string }>;
}
/** One user's records to import, with the market and epoch of their tenancy in the importing region. */
export interface UserImport {
  userId: string;
  market: string;
  epoch: number;
  states: RecordStates;
}
/** A tenancy as the coordinator sets it: fence, flip, unfence, roll back. */
export type TenancyChange = Required<RegionRequest<'setTenancies'>['tenancies'][number]> & { movedTo: string | null };
/** A change-log entry as the migration engine tails it. */
export type ChangeView = z.output<typeof changeView>;
export type UserDigest = z.output<typeof userDigest>;
export type AuditPage = z.output<typeof auditPage>;
/** What one region holds of a user, decrypted for the user's own export. */
// Built by region-dsar.ts; declared here, with the contract that answers it.
export interface RegionExport {
  region: string;
  services: Array<{
    service: string;
    market: string;
    /** home: served here; moved, fenced, incoming: a copy during or after a move. */
    status: Tenancy['status'];
    epoch: number;
    /** A record with parts (a photo's manifest) says where its bytes are downloaded: `content`, set by the platform. */
    records: Array<RecordView & { content?: string }>;
    consents: ConsentLedger[];
    /** Login identifiers; the password hash is never exported. */
    credentials?: { phone?: string; email?: string };
  }>;
}

export type AuditEventEntry = { id: string | null; event: AuditEvent };
