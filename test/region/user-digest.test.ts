import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/region/canonical-json.js';
import { recordHash, userDigest } from '../../src/region/user-digest.js';

describe('canonical JSON and user digests', () => {
  it('sorts object members at every depth by code unit, and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'é' }], c: true } })).toBe('{"a":{"c":true,"d":[3,{"y":"é","z":null}]},"b":1}');
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    // UTF-16 code units, not a locale nor UTF-8 bytes: 'Z' (0x5a) before 'a' (0x61), and an astral
    // character (a surrogate pair from 0xd83d) before U+FFFD, where UTF-8 byte order would put it after
    expect(canonicalJson({ a: 1, Z: 2, '\uFFFD': 4, '\u{1F600}': 3 })).toBe('{"Z":2,"a":1,"\u{1F600}":3,"\uFFFD":4}');
    expect(canonicalJson('x"y')).toBe('"x\\"y"');
    expect(canonicalJson(null)).toBe('null');
  });

  it('hashes values by their logical content', () => {
    expect(recordHash({ a: 1, b: [1, 2] })).toBe(recordHash(JSON.parse('{"b":[1,2],"a":1}')));
    expect(recordHash({ a: 1 })).not.toBe(recordHash({ a: '1' }));
    expect(recordHash(1)).not.toBe(recordHash('1'));
  });

  it('digests the sorted list, whatever order the records come in, and any change shows', () => {
    const records = [
      { collection: 'orders', key: 'o2', version: 1, value: 'b' },
      { collection: 'device', key: 'd1', version: 4, value: { x: 1 } },
      { collection: 'orders', key: 'o1', version: 2, value: 'a' },
    ];
    const digest = userDigest('u1', records);
    expect(digest.records.map((r) => `${r.collection}/${r.key}`)).toEqual(['device/d1', 'orders/o1', 'orders/o2']);
    expect(userDigest('u1', [...records].reverse())).toEqual(digest);
    const changed = [
      records.map((r) => (r.key === 'o1' ? { ...r, version: 3 } : r)),
      records.map((r) => (r.key === 'o1' ? { ...r, value: 'A' } : r)),
      records.map((r) => (r.key === 'o1' ? { ...r, key: 'o0' } : r)),
      records.slice(1),
    ];
    for (const other of changed) expect(userDigest('u1', other).digest).not.toBe(digest.digest);
    expect(userDigest('u1', []).digest).toMatch(/^[0-9a-f]{64}$/);
  });
});
