import type { ScryptParams } from '../../src/crypto/password.js';
import { type Policy, policySchema } from '../../src/policy/policy-schema.js';

/** A small slice of the 2014 scenario: Beijing for China, Singapore and Oregon for the rest. */
export const testPolicy: Policy = policySchema.parse({
  version: 1,
  name: 'region-tests',
  regions: [
    {
      id: 'cn-beijing',
      provider: 'xiaomi-idc',
      location: { city: 'Beijing', country: 'CN', lat: 39.9, lon: 116.4 },
      status: 'active',
    },
    {
      id: 'sg-singapore',
      provider: 'aws',
      location: { city: 'Singapore', country: 'SG', lat: 1.35, lon: 103.8 },
      status: 'active',
    },
    {
      id: 'us-oregon',
      provider: 'aws',
      location: { city: 'Boardman', country: 'US', lat: 45.8, lon: -119.7 },
      status: 'active',
    },
    {
      id: 'br-saopaulo',
      provider: 'aws',
      location: { city: 'Sao Paulo', country: 'BR', lat: -23.5, lon: -46.6 },
      status: 'planned',
      store: { kind: 'postgres', url: 'postgres://127.0.0.1:5432/domicile_br' },
    },
  ],
  markets: [
    { country: 'CN', jurisdiction: 'CN-PIPL' },
    { country: 'SG', jurisdiction: 'SG-PDPA' },
    { country: 'MY', jurisdiction: 'MY-PDPA' },
  ],
  purposes: [{ id: 'address-book-sync', description: 'Upload the address book for Cloud Messaging' }],
  services: [
    { id: 'account', categories: [{ id: 'identity' }, { id: 'device' }] },
    { id: 'messaging', categories: [{ id: 'contacts', consent: 'address-book-sync' }, { id: 'messages' }] },
    { id: 'cloud', categories: [{ id: 'photos' }] },
    { id: 'shop', categories: [{ id: 'orders' }] },
  ],
  placement: [
    { markets: ['CN'], services: ['*'], regions: ['cn-beijing'] },
    { markets: ['*'], services: ['*'], regions: ['sg-singapore', 'us-oregon'] },
  ],
});

/** Cheap scrypt for tests that hash many passwords; the default cost is tested in test/crypto. */
export const fastScrypt: ScryptParams = { logN: 10, r: 8, p: 1 };
