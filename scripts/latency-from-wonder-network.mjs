// Writes the backbone figures of examples/latency.yaml from WonderNetwork's public ping data of
// 19-20 July 2020 (as grouped in github.com/sm86/geo-latency-data, commit 0ab28d0), and the raw
// CSV lines each figure comes from (docs/latency-sources.md quotes them).
//
//   node scripts/latency-from-wonder-network.mjs PINGS.csv
//
// Each figure is the mean of the `avg` column of both directions (source,destination and back),
// except towards Zhangjiakou, whose own outgoing pings are broken in the data (383 ms to itself):
// there only the pings towards it count.
import { readFileSync } from 'node:fs';

/** The city each figure names → its WonderNetwork server id (servers-2020-07-19.csv). */
const servers = /** @type {const} */ ({
  Shanghai: 180,
  'Hong Kong': 72,
  'New Delhi': 46,
  Jakarta: 57,
  'Kuala Lumpur': 36,
  Manila: 112,
  Singapore: 31,
  Taipei: 95,
  Chicago: 22,
  'Sao Paulo': 125,
  Zhangjiakou: 261,
  'San Jose': 23,
  Portland: 82,
  Pune: 111,
});
/** @typedef {keyof typeof servers} City */
/** @type {City[]} */
const marketCities = [
  'Shanghai',
  'Hong Kong',
  'New Delhi',
  'Jakarta',
  'Kuala Lumpur',
  'Manila',
  'Singapore',
  'Taipei',
  'Chicago',
  'Sao Paulo',
];
/** @type {City[]} */
const regionCities = ['Zhangjiakou', 'San Jose', 'Portland', 'Singapore', 'Pune', 'Sao Paulo'];
/** @type {Set<number>} */
const broken = new Set([261]);

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node scripts/latency-from-wonder-network.mjs pings-2020-07-19-2020-07-20-grouped.csv\n');
  process.exit(2);
}
/** @type {Map<string, { line: string; avg: number }>} */
const rows = new Map();
for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
  const [source, destination, , avg] = line.split(',');
  if (avg !== undefined) rows.set(`${source},${destination}`, { line, avg: Number(avg) });
}

/** @type {Array<{ a: City; b: City; ms: number; lines: string[]; oneWay: boolean }>} */
const pairs = [];
const seen = new Set();
/** @param {City} a @param {City} b */
const add = (a, b) => {
  const key = [a, b].sort().join('|');
  if (a === b || seen.has(key)) return;
  seen.add(key);
  const [x, y] = [servers[a], servers[b]];
  const there = broken.has(x) ? undefined : rows.get(`${x},${y}`);
  const back = broken.has(y) ? undefined : rows.get(`${y},${x}`);
  const used = [there, back].filter((r) => r !== undefined);
  if (used.length === 0) throw new Error(`no pings between ${a} and ${b}`);
  const ms = used.reduce((s, r) => s + r.avg, 0) / used.length;
  pairs.push({ a, b, ms: Math.round(ms * 10) / 10, lines: used.map((r) => r.line), oneWay: used.length === 1 });
};
for (const m of marketCities) for (const r of regionCities) add(m, r);
for (const [i, a] of regionCities.entries()) for (const b of regionCities.slice(i + 1)) add(a, b);

if (process.argv.includes('--lines')) {
  for (const p of pairs)
    process.stdout.write(`| ${p.a} – ${p.b} | ${p.ms} | ${p.lines.map((l) => `\`${l}\``).join('<br>')} |\n`);
} else {
  for (const p of pairs) {
    const note = p.oneWay ? 'avg of the pings towards Zhangjiakou' : 'mean of the avg of both directions';
    process.stdout.write(
      `  - { cities: [${p.a}, ${p.b}], ms: ${p.ms}, source: wonder-network-2020, note: "${note}" }\n`,
    );
  }
}
