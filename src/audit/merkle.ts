import { createHash } from 'node:crypto';

/**
 * Merkle trees as RFC 6962 (section 2.1) defines them, and the proof checks of RFC 9162
 * (sections 2.1.3.2 and 2.1.4.2): the hashing Certificate Transparency logs use, so any of
 * their tools can check Domicile's audit logs.
 *
 *   leaf:  SHA-256(0x00 || entry)        node: SHA-256(0x01 || left || right)
 *   MTH({}) = SHA-256(""); MTH(D[n]) splits at k, the largest power of two smaller than n.
 */
export const hashBytes = 32;

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

const leafPrefix = Buffer.from([0x00]);
const nodePrefix = Buffer.from([0x01]);

export function leafHash(entry: Buffer): Buffer {
  return sha256(leafPrefix, entry);
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return sha256(nodePrefix, left, right);
}

export const emptyRoot: Buffer = sha256();

/** The largest power of two smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of leaves [start, end) of a list of leaf hashes. */
export function treeHash(leaves: readonly Buffer[], start = 0, end = leaves.length): Buffer {
  const n = end - start;
  if (n === 0) return emptyRoot;
  if (n === 1) return leaves[start]!;
  const k = split(n);
  return nodeHash(treeHash(leaves, start, start + k), treeHash(leaves, start + k, end));
}

/** PATH(m, D[n]): the audit path of leaf `index` in the tree of the first `size` leaves. */
export function inclusionProof(leaves: readonly Buffer[], index: number, size = leaves.length): Buffer[] {
  if (!Number.isInteger(index) || index < 0 || index >= size || size > leaves.length) {
    throw new RangeError(`no leaf ${index} in a tree of ${size} (the log holds ${leaves.length})`);
  }
  const path = (m: number, start: number, end: number): Buffer[] => {
    const n = end - start;
    if (n === 1) return [];
    const k = split(n);
    return m < k
      ? [...path(m, start, start + k), treeHash(leaves, start + k, end)]
      : [...path(m - k, start + k, end), treeHash(leaves, start, start + k)];
  };
  return path(index, 0, size);
}

/** PROOF(m, D[n]): the consistency proof of the tree of the first `first` leaves with that of `size`. */
export function consistencyProof(leaves: readonly Buffer[], first: number, size = leaves.length): Buffer[] {
  if (!Number.isInteger(first) || first < 1 || first > size || size > leaves.length) {
    throw new RangeError(`no consistency proof from ${first} to ${size} leaves (the log holds ${leaves.length})`);
  }
  const subproof = (m: number, start: number, end: number, complete: boolean): Buffer[] => {
    const n = end - start;
    if (m === n) return complete ? [] : [treeHash(leaves, start, end)];
    const k = split(n);
    return m <= k
      ? [...subproof(m, start, start + k, complete), treeHash(leaves, start + k, end)]
      : [...subproof(m - k, start + k, end, false), treeHash(leaves, start, start + k)];
  };
  return subproof(first, 0, size, true);
}

function wellFormed(hashes: readonly Buffer[]): boolean {
  return hashes.every((h) => Buffer.isBuffer(h) && h.length === hashBytes);
}

/** RFC 9162 2.1.3.2: does `proof` show leaf `index` (hash `leaf`) in the tree of `size` leaves with `root`? */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  size: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!wellFormed([leaf, root, ...proof])) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 2.1.4.2: does `proof` show the tree of `first` leaves (`firstRoot`) is a prefix of that of `size` (`root`)? */
export function verifyConsistency(
  first: number,
  firstRoot: Buffer,
  size: number,
  root: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(size) || first < 0 || first > size) return false;
  if (!wellFormed([firstRoot, root, ...proof])) return false;
  if (first === size) return proof.length === 0 && firstRoot.equals(root);
  if (first === 0) return proof.length === 0 && firstRoot.equals(emptyRoot);
  const path = [...proof];
  // A first tree that is a complete subtree of the second is its own first node.
  if ((first & (first - 1)) === 0) path.unshift(firstRoot);
  let fn = first - 1;
  let sn = size - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  const [head, ...rest] = path;
  if (!head) return false;
  let fr = head;
  let sr = head;
  for (const c of rest) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(firstRoot) && sr.equals(root);
}

/**
 * The right edge of a growing tree: the roots of its perfect subtrees, largest first. An
 * append merges equal-sized subtrees (O(log n)); the root folds them from the right. What a
 * log keeps in memory to sign a new tree head after each append without rehashing it all.
 */
export class CompactRange {
  private readonly peaks: Array<{ size: number; hash: Buffer }> = [];
  private count = 0;

  static of(leaves: Iterable<Buffer>): CompactRange {
    const range = new CompactRange();
    for (const leaf of leaves) range.append(leaf);
    return range;
  }

  get size(): number {
    return this.count;
  }

  append(leaf: Buffer): void {
    let peak = { size: 1, hash: leaf };
    while (this.peaks.length > 0 && this.peaks.at(-1)!.size === peak.size) {
      const left = this.peaks.pop()!;
      peak = { size: left.size * 2, hash: nodeHash(left.hash, peak.hash) };
    }
    this.peaks.push(peak);
    this.count++;
  }

  root(): Buffer {
    if (this.peaks.length === 0) return emptyRoot;
    let hash = this.peaks.at(-1)!.hash;
    for (let i = this.peaks.length - 2; i >= 0; i--) hash = nodeHash(this.peaks[i]!.hash, hash);
    return hash;
  }

  clone(): CompactRange {
    const copy = new CompactRange();
    copy.peaks.push(...this.peaks);
    copy.count = this.count;
    return copy;
  }
}
