import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countryPointsText } from '../../scripts/country-points-data.js';

describe('web/src/country-points.json', () => {
  it('is what the generator makes from world-atlas (run `npm run country-points` after an update)', () => {
    const committed = readFileSync(new URL('../../web/src/country-points.json', import.meta.url), 'utf8');
    expect(committed).toBe(countryPointsText());
    const points = JSON.parse(committed) as Record<string, { id: string; lon: number; lat: number }>;
    // The scenario's markets, the small ones included, each where it is.
    expect(points.SG).toMatchObject({ id: '702' });
    expect(points.SG!.lat).toBeCloseTo(1.35, 0);
    expect(points.HK).toMatchObject({ id: '344' });
    expect(points.IN).toMatchObject({ id: '356' });
    for (const m of ['CN', 'HK', 'IN', 'ID', 'MY', 'PH', 'SG', 'TW', 'US', 'BR']) expect(points[m], m).toBeDefined();
  });
});
