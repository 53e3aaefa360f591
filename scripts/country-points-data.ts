import { createRequire } from 'node:module';
import { geoCentroid } from 'd3-geo';
import type { Feature, Geometry } from 'geojson';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';

/**
 * A point for every country the 1:50m Natural Earth map knows (world-atlas), by ISO 3166-1
 * alpha-2 code: its centroid, and its numeric code (the id the dashboard's 1:110m map uses).
 * The dashboard places markets too small for that map (Singapore, Hong Kong) by these points,
 * and measures its latency estimates from them. Generated, not hand-written:
 * `npm run country-points` writes web/src/country-points.json.
 */
export function countryPointsText(): string {
  const require = createRequire(import.meta.url);
  const topology = require('world-atlas/countries-50m.json') as Topology<{ countries: GeometryCollection }>;
  const countries = require('i18n-iso-countries') as { numericToAlpha2(code: string): string | undefined };
  const points: Record<string, { id: string; lon: number; lat: number }> = {};
  const all = feature(topology, topology.objects.countries) as unknown as { features: Array<Feature<Geometry>> };
  for (const f of all.features) {
    const id = String(f.id ?? '');
    const alpha2 = countries.numericToAlpha2(id);
    if (!alpha2 || points[alpha2]) continue;
    const [lon, lat] = geoCentroid(f);
    points[alpha2] = { id, lon: Math.round(lon * 100) / 100, lat: Math.round(lat * 100) / 100 };
  }
  const sorted = Object.fromEntries(Object.entries(points).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify(sorted)}\n`;
}
