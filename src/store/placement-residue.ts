import type { PlacementStat } from './region-store.js';

/**
 * Adds each market × service's residue (users whose rows still name them in a region that no
 * longer serves them) to the placement stats, with a row of its own where nothing else is
 * there, ordered by market then service as the stats are.
 */
export function withResidue(stats: PlacementStat[], residue: ReadonlyArray<{ market: string; service: string; residue: number }>): PlacementStat[] {
  const byKey = new Map(stats.map((s) => [`${s.market}\u0000${s.service}`, s]));
  for (const r of residue) {
    const id = `${r.market}\u0000${r.service}`;
    const stat = byKey.get(id);
    if (stat) stat.residue += r.residue;
    else byKey.set(id, { market: r.market, service: r.service, users: 0, records: 0, bytes: 0, residue: r.residue });
  }
  return [...byKey.values()].sort((a, b) => (a.market < b.market ? -1 : a.market > b.market ? 1 : a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}
