import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle.js';

const hex = (h: Buffer) => h.toString('hex');
const fromHex = (s: string) => Buffer.from(s, 'hex');

// Certificate Transparency's reference inputs and tree heads (RFC 6962 test data).
const ctEntries = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(fromHex);
const ctRoots = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const inclusionVectors: Array<[number, number, string[]]> = [
  [0, 1, []],
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    1,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const consistencyVectors: Array<[number, number, string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const leaves = ctEntries.map(leafHash);

describe('RFC 6962 Merkle trees', () => {
  it('reproduces the reference tree heads, leaf by leaf and all at once', () => {
    expect(hex(emptyRoot)).toBe(ctRoots[0]);
    expect(hex(leaves[1]!)).toBe('96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7');
    const range = new CompactRange();
    expect(hex(range.root())).toBe(ctRoots[0]);
    for (let n = 1; n <= 8; n++) {
      expect(hex(treeHash(leaves.slice(0, n)))).toBe(ctRoots[n]);
      range.append(leaves[n - 1]!);
      expect(hex(range.root())).toBe(ctRoots[n]);
    }
    // domain separation: a leaf never hashes like a node of the same bytes
    expect(leafHash(Buffer.concat([leaves[0]!, leaves[1]!])).equals(nodeHash(leaves[0]!, leaves[1]!))).toBe(false);
  });

  it.each(inclusionVectors)(
    'inclusion proof of leaf %i in a tree of %i: the reference path, and it verifies',
    (index, size, expected) => {
      const proof = inclusionProof(leaves, index, size);
      expect(proof.map(hex)).toEqual(expected);
      const root = fromHex(ctRoots[size]!);
      expect(verifyInclusion(leaves[index]!, index, size, proof, root)).toBe(true);
      expect(verifyInclusion(leaves[index]!, index, size, proof, emptyRoot)).toBe(false);
      if (proof.length > 0) expect(verifyInclusion(leaves[index]!, index, size, proof.slice(1), root)).toBe(false);
      expect(verifyInclusion(leaves[index]!, index, size, [...proof, root], root)).toBe(false);
    },
  );

  it.each(consistencyVectors)(
    'consistency proof from %i to %i leaves: the reference proof, and it verifies',
    (first, size, expected) => {
      const proof = consistencyProof(leaves, first, size);
      expect(proof.map(hex)).toEqual(expected);
      const firstRoot = fromHex(ctRoots[first]!);
      const root = fromHex(ctRoots[size]!);
      expect(verifyConsistency(first, firstRoot, size, root, proof)).toBe(true);
      expect(verifyConsistency(first, root, size, firstRoot, proof)).toBe(first === size);
      if (proof.length > 0) expect(verifyConsistency(first, firstRoot, size, root, proof.slice(0, -1))).toBe(false);
    },
  );

  it('refuses lies about structure: wrong index, wrong leaf, a shrinking log, malformed hashes', () => {
    const root8 = fromHex(ctRoots[8]!);
    const proof = inclusionProof(leaves, 5, 8);
    expect(verifyInclusion(leaves[5]!, 4, 8, proof, root8)).toBe(false);
    expect(verifyInclusion(leaves[4]!, 5, 8, proof, root8)).toBe(false);
    expect(verifyInclusion(leaves[5]!, 8, 8, proof, root8)).toBe(false);
    expect(verifyInclusion(leaves[5]!, 5, 8, [Buffer.from('short')], root8)).toBe(false);
    expect(verifyConsistency(8, root8, 6, fromHex(ctRoots[6]!), [])).toBe(false);
    expect(verifyConsistency(0, emptyRoot, 8, root8, [])).toBe(true);
    expect(verifyConsistency(0, root8, 8, root8, [])).toBe(false);
    expect(() => inclusionProof(leaves, 8, 8)).toThrow(RangeError);
    expect(() => consistencyProof(leaves, 0, 8)).toThrow(RangeError);
  });

  it('every proof of every tree up to 70 leaves verifies, and any flipped bit fails', () => {
    const many = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from([i, (i * 7) % 256])));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), fc.nat(255), (size, a, b, bit) => {
        const root = treeHash(many, 0, size);
        expect(CompactRange.of(many.slice(0, size)).root().equals(root)).toBe(true);
        const index = a % size;
        const proof = inclusionProof(many, index, size);
        expect(verifyInclusion(many[index]!, index, size, proof, root)).toBe(true);
        const first = 1 + (b % size);
        const consistency = consistencyProof(many, first, size);
        expect(verifyConsistency(first, treeHash(many, 0, first), size, root, consistency)).toBe(true);
        if (proof.length > 0) {
          const bad = proof.map((p) => Buffer.from(p));
          bad[bit % bad.length]![bit % 32]! ^= 1 << (bit % 8);
          expect(verifyInclusion(many[index]!, index, size, bad, root)).toBe(false);
        }
        if (consistency.length > 0) {
          const bad = consistency.map((p) => Buffer.from(p));
          bad[bit % bad.length]![bit % 32]! ^= 1 << (bit % 8);
          expect(verifyConsistency(first, treeHash(many, 0, first), size, root, bad)).toBe(false);
        }
      }),
      { numRuns: 400 },
    );
  });
});
