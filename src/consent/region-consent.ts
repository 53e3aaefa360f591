// region-client.ts and its two clients import ConsentStat from here; RegionConsent itself is in
// src/region/region-consent.ts, so that consent/ imports nothing of region/. Once they import
// it from consent-ledger.js (with the region contract), this file goes.
export type { ConsentStat } from './consent-ledger.js';
