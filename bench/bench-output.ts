import { cpus } from 'node:os';

/** The machine a benchmark ran on, as every report names it. */
export interface Machine {
  cpus: number;
  node: string;
}

export function machine(): Machine {
  return { cpus: cpus().length, node: process.version };
}

/** A figure as benchmarks print it: what, how much, in what unit, and against which baseline. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The baseline's name and value, measured in the same run. */
  baseline?: { name: string; value: number };
  /** The goal on the ratio value / baseline, when the issue names one. */
  goal?: { atLeast?: number; atMost?: number; text: string };
}

export function ratio(f: Figure): number | undefined {
  return f.baseline && f.baseline.value > 0 ? f.value / f.baseline.value : undefined;
}

export function meetsGoal(f: Figure): boolean | undefined {
  const r = ratio(f);
  if (!f.goal || r === undefined) return undefined;
  return (f.goal.atLeast === undefined || r >= f.goal.atLeast) && (f.goal.atMost === undefined || r <= f.goal.atMost);
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

export function formatFigures(title: string, figures: Figure[]): string {
  const rows = figures.map((f) => {
    const r = ratio(f);
    const verdict = meetsGoal(f);
    return [
      f.name,
      `${fmt(f.value)} ${f.unit}`,
      f.baseline ? `${f.baseline.name}: ${fmt(f.baseline.value)} ${f.unit}` : '',
      r === undefined ? '' : `${r.toFixed(2)}×`,
      f.goal ? `${f.goal.text} ${verdict ? 'MET' : 'NOT MET'}` : '',
    ];
  });
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${title}\n${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
