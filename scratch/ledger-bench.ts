import { mkdtempSync } from 'node:fs';
import { createSigner, createVerifier } from 'fast-jwt';
import { FlashSaleLedger } from '../src/services/shop/flash-sale-ledger.js';
const dir = mkdtempSync('/tmp/ledger-');
const ledger = new FlashSaleLedger(`${dir}/l.db`, [{ id: 's', sku: 'x', units: 100000 }], { durability: 'full' });
let t = performance.now();
const ps = [];
for (let i = 0; i < 100000; i++) { ps.push(ledger.claim('s', `u_${i}`, `key-${i}-abcdefghijabcdefghijabcdefghijabc`)); if (i % 100 === 99) await Promise.all(ps.splice(0)); }
await Promise.all(ps);
console.log('ledger claims/s (batches of 100)', (100000 / ((performance.now() - t) / 1000)).toFixed(0));
const key = Buffer.alloc(32, 7);
const sign = createSigner({ key, algorithm: 'HS256', iss: 'domicile', expiresIn: 3600_000 });
const tokens = Array.from({ length: 50000 }, (_, i) => sign({ sub: `u_${i}`, sid: `s_${i}` }));
for (const cache of [50000, false]) {
  const verify = createVerifier({ key, algorithms: ['HS256'], allowedIss: 'domicile', requiredClaims: ['exp', 'sub', 'sid'], cache: cache as number });
  t = performance.now();
  for (const tok of tokens) verify(tok);
  console.log('verify µs, cache', cache, ((performance.now() - t) * 1000 / tokens.length).toFixed(1));
}
ledger.close();
