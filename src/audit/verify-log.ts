import { decodeEntry } from './audit-event.js';
import { type Checkpoint, checkpointSigned } from './checkpoint.js';
import { CompactRange, leafHash, treeHash } from './merkle.js';

/**
 * A page of a region's audit log, as a verifier reads it: the raw entries and the checkpoints
 * over them. Declared here, beside its reader, so that the audit log depends on no region code.
 */
export interface AuditPage {
  region: string;
  /** The region's Ed25519 public key (SPKI, base64), to pin. */
  publicKey: string;
  /** Entries in the log now. */
  size: number;
  entries: Array<{ seq: number; entry: string; leafHash: string }>;
  /** Checkpoints whose size falls in this page's range of seqs. */
  checkpoints: Checkpoint[];
}

/** What a verifier last saw of a region's log and accepted: the key it pins and the checkpoint the log must extend. */
export interface Witness {
  region: string;
  publicKey: string;
  checkpoint: Checkpoint;
}

export interface LogVerification {
  region: string;
  publicKey: string;
  size: number;
  /** The root recomputed from the entries (hex). */
  root: string;
  /** The newest signed checkpoint, if the log has any. */
  latest: Checkpoint | null;
  /** Every way the log was found changed; empty when it verifies. */
  problems: string[];
  /** Every entry's leaf hash, recomputed, for proofs. */
  leaves: Buffer[];
  /** The right edge of the tree of every entry, to append to. */
  range: CompactRange;
  entries: string[];
}

/** Most problems named per region: past the first few, more say nothing new. */
const maxProblems = 20;

/**
 * Verifies a region's audit log from its raw entries, trusting nothing the region computed:
 * every entry is decoded and rehashed (RFC 6962 leaf), the entries must run 1..n with their own
 * seq and region inside, every checkpoint must carry the pinned key's signature over exactly the
 * root of the entries up to its size, the newest must cover every entry (each append is signed
 * with it), and the log must extend what the witness saw last time (same key, the witness's
 * root recomputed at its size). Changing, removing, inserting or reordering any byte of an entry
 * or a checkpoint breaks one of these.
 */
export async function verifyLog(
  region: string,
  read: (afterSeq: number, limit: number) => Promise<AuditPage>,
  witness?: Witness,
  pageSize = 2_000,
): Promise<LogVerification> {
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < maxProblems) problems.push(text);
  };
  const range = new CompactRange();
  const leaves: Buffer[] = [];
  const entries: string[] = [];
  /** Each entry's time: the entries of one append share it, and its checkpoint carries it. */
  const ats: number[] = [];
  const checkpoints: Checkpoint[] = [];
  /** The root recomputed at each size a checkpoint is signed at, as the entries are read. */
  const rootAt = new Map<number, string>();
  const signedSizes = new Set<number>();
  let publicKey = '';
  let claimedSize = 0;
  let witnessRootSeen = witness === undefined || witness.checkpoint.size === 0;
  const checkWitnessAt = () => {
    if (witness && range.size === witness.checkpoint.size) {
      witnessRootSeen = true;
      if (range.root().toString('hex') !== witness.checkpoint.root) {
        problem(
          `entries 1 to ${witness.checkpoint.size} differ from what the last verification saw (root ${witness.checkpoint.root.slice(0, 16)}…): the log was rewritten`,
        );
      }
    }
  };
  if (witness && witness.checkpoint.size === 0 && witness.checkpoint.root !== range.root().toString('hex'))
    problem('the witness of an empty log has a wrong root');
  for (let after = 0; ; ) {
    const page = await read(after, pageSize);
    if (publicKey === '') {
      publicKey = page.publicKey;
      if (witness && witness.publicKey !== publicKey)
        problem(
          `region ${region} now presents another signing key than the one pinned at the last verification: its checkpoints cannot be trusted`,
        );
    }
    claimedSize = page.size;
    checkpoints.push(...page.checkpoints);
    for (const c of page.checkpoints) signedSizes.add(c.size);
    for (const row of page.entries) {
      const expected = range.size + 1;
      if (row.seq !== expected)
        problem(`entry ${expected} is missing (the next entry found is ${row.seq}): entries were removed or reordered`);
      const bytes = Buffer.from(row.entry, 'utf8');
      const leaf = leafHash(bytes);
      if (row.leafHash !== leaf.toString('hex'))
        problem(`entry ${row.seq}: its stored leaf hash is not the hash of its bytes: the entry was changed`);
      const decoded = decodeEntry(bytes);
      if (!decoded) problem(`entry ${row.seq} is not a well-formed audit entry: it was changed`);
      else if (decoded.seq !== row.seq || decoded.region !== region)
        problem(
          `entry ${row.seq} says it is entry ${decoded.seq} of region ${decoded.region}: entries were moved or reordered`,
        );
      ats.push(decoded?.at ?? Number.NaN);
      range.append(leaf);
      if (signedSizes.has(range.size)) rootAt.set(range.size, range.root().toString('hex'));
      leaves.push(leaf);
      entries.push(row.entry);
      checkWitnessAt();
    }
    if (page.entries.length < pageSize) break;
    after = page.entries.at(-1)!.seq;
  }
  if (claimedSize !== range.size) problem(`the region reports ${claimedSize} entries but ${range.size} were read`);
  if (!witnessRootSeen)
    problem(
      `the log holds ${range.size} entries, fewer than the ${witness!.checkpoint.size} seen at the last verification: entries were removed`,
    );

  // Each checkpoint against the root of the entries up to its size.
  checkpoints.sort((a, b) => a.size - b.size);
  let lastAt = 0;
  for (const c of checkpoints) {
    if (c.region !== region) problem(`a checkpoint of size ${c.size} names region ${c.region}`);
    if (!checkpointSigned(c, publicKey))
      problem(`the checkpoint of size ${c.size} does not carry region ${region}'s signature: it was changed`);
    if (c.size > leaves.length) {
      problem(
        `the checkpoint of size ${c.size} covers more entries than the log holds (${leaves.length}): entries were removed`,
      );
      continue;
    }
    // A page carries the checkpoints over its own entries, so the root at each was taken as
    // they were read; one a region sent late (or of size 0) is recomputed from the leaves.
    const root = rootAt.get(c.size) ?? treeHash(leaves, 0, c.size).toString('hex');
    if (root !== c.root)
      problem(`the entries up to ${c.size} do not hash to the root signed at that size: an entry was changed`);
    if (c.at < lastAt) problem(`the checkpoint of size ${c.size} is dated before the one preceding it`);
    lastAt = c.at;
  }
  // Every append is stored with the checkpoint signed over it: the last entry of each append
  // (the entries dated alike) must have its own. A checkpoint removed, and the log signed again
  // later by a node restarted over a changed entry, shows here.
  const bySize = new Map(checkpoints.map((c) => [c.size, c]));
  for (let i = 0; i < ats.length; i++) {
    if (i > 0 && ats[i]! < ats[i - 1]!) problem(`entry ${i + 1} is dated before entry ${i}: entries were reordered`);
    if (i + 1 < ats.length && ats[i + 1] === ats[i]) continue;
    const own = bySize.get(i + 1);
    if (!own || own.at !== ats[i])
      problem(`the checkpoint signed with the append that ended at entry ${i + 1} is missing: it was removed`);
  }
  const latest = checkpoints.at(-1) ?? null;
  if (leaves.length > 0 && (latest === null || latest.size < leaves.length)) {
    problem(
      `${leaves.length - (latest?.size ?? 0)} entries follow the last signed checkpoint (every append is signed): entries were added`,
    );
  }
  return {
    region,
    publicKey,
    size: range.size,
    root: range.root().toString('hex'),
    latest,
    problems,
    leaves,
    range,
    entries,
  };
}
