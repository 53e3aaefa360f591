import { geoDistance, geoInterpolate, geoNaturalEarth1, geoPath } from 'd3-geo';
import type { Feature, Geometry } from 'geojson';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import world from 'world-atlas/countries-110m.json';
import type { DashboardSummary } from './api.js';
import points from './country-points.json';

const svgNs = 'http://www.w3.org/2000/svg';
const countryPoints = points as Record<string, { id: string; lon: number; lat: number }>;
const topology = world as unknown as Topology<{ countries: GeometryCollection }>;
const countries = (feature(topology, topology.objects.countries) as unknown as { features: Array<Feature<Geometry>> })
  .features;
const projection = geoNaturalEarth1().fitExtent(
  [
    [8, 8],
    [952, 492],
  ],
  { type: 'Sphere' },
);
const path = geoPath(projection);

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(svgNs, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function titled<T extends SVGElement>(node: T, title: string): T {
  node.append(el('title', {}, title));
  return node;
}

/** Where a market is on the map: its country's point (markets smaller than the map's detail are drawn as dots there). */
export function marketPoint(country: string): [number, number] | undefined {
  const p = countryPoints[country];
  return p ? [p.lon, p.lat] : undefined;
}

/** Great-circle distance in km between two [lon, lat] points. */
export function distanceKm(a: [number, number], b: [number, number]): number {
  return geoDistance(a, b) * 6371;
}

/**
 * Draws the world: each market's country filled by compliance, each region a circle (hollow
 * when planned) with its name, and every route of the current migration as a great-circle
 * arc, solid as far as its users are cut over.
 */
export function drawMap(svg: SVGSVGElement, summary: DashboardSummary): void {
  for (const node of [...svg.children]) if (node.tagName !== 'title' && node.tagName !== 'desc') node.remove();
  const byNumeric = new Map(
    summary.markets.flatMap((m) => {
      const p = countryPoints[m.country];
      return p ? [[p.id, m] as const] : [];
    }),
  );
  const drawn = new Set<string>();
  const land = el('g', { class: 'countries' });
  for (const c of countries) {
    const market = byNumeric.get(String(c.id));
    const d = path(c);
    if (!d) continue;
    const shape = el('path', { d, class: market ? `country market ${market.compliance}` : 'country' });
    if (market) {
      drawn.add(market.country);
      shape.setAttribute('data-market', market.country);
      titled(
        shape,
        `${market.name} (${market.country}): ${market.compliance.replace('-', ' ')}; ${market.jurisdiction}`,
      );
    }
    land.append(shape);
  }
  svg.append(land);
  const small = el('g', { class: 'small-markets' });
  for (const m of summary.markets) {
    if (drawn.has(m.country)) continue;
    const at = marketPoint(m.country);
    const xy = at && projection(at);
    if (!xy) continue;
    small.append(
      titled(
        el('circle', { cx: xy[0], cy: xy[1], r: 4, class: `market ${m.compliance}`, 'data-market': m.country }),
        `${m.name} (${m.country}): ${m.compliance.replace('-', ' ')}`,
      ),
    );
  }
  svg.append(small);

  const regions = new Map(summary.regions.map((r) => [r.id, [r.lon, r.lat] as [number, number]]));
  const arcs = el('g', { class: 'routes' });
  for (const route of summary.routes) {
    const from = regions.get(route.from);
    const to = regions.get(route.to);
    if (!from || !to) continue;
    const interpolate = geoInterpolate(from, to);
    const line = (t: number) => ({
      type: 'LineString' as const,
      coordinates: Array.from({ length: 33 }, (_, i) => interpolate((i / 32) * t)),
    });
    const title = `${route.service}: ${route.from} → ${route.to}, ${route.cutOver} of ${route.users} users cut over`;
    arcs.append(titled(el('path', { d: path(line(1)) ?? '', class: 'route-todo' }), title));
    const done = route.users === 0 ? 0 : route.cutOver / route.users;
    if (done > 0)
      arcs.append(
        titled(
          el('path', {
            d: path(line(done)) ?? '',
            class: 'route',
            'data-route': `${route.service}:${route.from}:${route.to}`,
            'data-done': done.toFixed(3),
          }),
          title,
        ),
      );
  }
  svg.append(arcs);

  const marks = el('g', { class: 'regions' });
  for (const r of summary.regions) {
    const xy = projection([r.lon, r.lat]);
    if (!xy) continue;
    marks.append(
      titled(
        el('circle', { cx: xy[0], cy: xy[1], r: 6, class: `region ${r.status}`, 'data-region': r.id }),
        `${r.name}: ${r.provider}, ${r.status}, ${r.backend} store, ${r.city}`,
      ),
    );
    marks.append(el('text', { x: xy[0] + 8, y: xy[1] + 4, class: 'region-label' }, r.id));
  }
  svg.append(marks);
}
