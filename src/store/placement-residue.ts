import type { PlacementStat } from './region-store.js';

/**
 * Adds each market × service's residue (users whose rows still name them in a region that no
 * longer serves them) to the placement stats, with a row of its own where nothing else is
 * there, ordered by market then service as the stats are. A residue row of users whose tenancy
 * is 'moved' names where to (moved_to), and is counted in the stat's movedTo as well.
 */
export function withResidue(
  stats: PlacementStat[],
  residue: ReadonlyArray<{ market: string; service: string; residue: number; moved_to?: string | null }>,
): PlacementStat[] {
  const byKey = new Map(stats.map((s) => [`${s.market}\u0000${s.service}`, s]));
  for (const r of residue) {
    const id = `${r.market}\u0000${r.service}`;
    let stat = byKey.get(id);
    if (stat) stat.residue += r.residue;
    else
      byKey.set(
        id,
        (stat = { market: r.market, service: r.service, users: 0, records: 0, bytes: 0, residue: r.residue }),
      );
    if (r.moved_to) (stat.movedTo ??= {})[r.moved_to] = (stat.movedTo[r.moved_to] ?? 0) + r.residue;
  }
  return [...byKey.values()].sort((a, b) =>
    a.market < b.market ? -1 : a.market > b.market ? 1 : a.service < b.service ? -1 : a.service > b.service ? 1 : 0,
  );
}
