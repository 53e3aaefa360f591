import type { DashboardSummary, MigrationStatus } from './api.js';
import { distanceKm, marketPoint } from './world-map.js';

const number = new Intl.NumberFormat('en-US');

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} kB` : `${(n / 1024 ** 2).toFixed(1)} MB`;
}

/** Fills a table: a header row, then rows of cells; numbers right-aligned. textContent only: nothing is parsed as HTML. */
function fill(
  table: HTMLTableElement,
  head: string[],
  rows: Array<Array<string | number | { text: string; className: string }>>,
  empty: string,
): void {
  table.replaceChildren();
  const thead = table.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    thead.append(th);
  }
  const body = table.createTBody();
  if (rows.length === 0) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = head.length;
    cell.textContent = empty;
    return;
  }
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) {
      const td = tr.insertCell();
      if (typeof value === 'number') {
        td.className = 'num';
        td.textContent = number.format(value);
      } else if (typeof value === 'string') {
        td.textContent = value;
      } else {
        td.className = value.className;
        td.textContent = value.text;
      }
    }
  }
}

export function drawPlacement(table: HTMLTableElement, s: DashboardSummary): void {
  fill(
    table,
    ['market', 'service', 'region', 'users', 'bytes', 'homed', 'allowed'],
    s.residency.rows.map((r) => [
      r.market,
      r.service,
      r.region,
      r.users,
      bytes(r.bytes),
      r.homed,
      r.allowed ? { text: 'yes', className: 'yes' } : { text: 'NO', className: 'no' },
    ]),
    'No user data yet.',
  );
}

export function drawTransfers(table: HTMLTableElement, s: DashboardSummary): void {
  fill(
    table,
    ['completed', 'service', 'from', 'to', 'users', 'records', 'bytes', 'policy'],
    s.transfers.map((t) => [
      new Date(t.completedAt).toISOString().replace('T', ' ').slice(0, 19),
      t.service,
      t.from,
      t.to,
      t.users.length,
      t.records,
      bytes(t.bytes),
      `${t.policy.name} v${t.policy.version}`,
    ]),
    'No transfer completed yet.',
  );
}

export function drawAudit(table: HTMLTableElement, s: DashboardSummary): void {
  fill(
    table,
    ['region', 'entries', 'signed checkpoint', 'root', 'verified'],
    s.audit.map((a) => [
      a.region,
      a.entries,
      a.checkpoint ? new Date(a.checkpoint.at).toISOString().replace('T', ' ').slice(0, 19) : '-',
      a.checkpoint ? `${a.checkpoint.root.slice(0, 12)}…` : '-',
      a.verified
        ? { text: 'verified', className: 'yes' }
        : { text: `TAMPERED: ${a.problems[0] ?? ''}`, className: 'no' },
    ]),
    'No region runs.',
  );
}

export function drawRegions(table: HTMLTableElement, s: DashboardSummary): void {
  fill(
    table,
    ['region', 'provider', 'city', 'status', 'store', 'running'],
    s.regions.map((r) => [
      r.id,
      r.provider,
      `${r.city}, ${r.country}`,
      r.status,
      r.backend,
      r.live ? { text: 'yes', className: 'yes' } : 'no',
    ]),
    'The policy has no regions.',
  );
}

/** Estimated round trip over fibre (2/3 c), routes 1.5× the great circle, plus 10 ms of access. */
export function forecastRttMs(km: number): number {
  return Math.round((2 * km * 1.5) / 200 + 10);
}

export function drawLatency(table: HTMLTableElement, s: DashboardSummary): void {
  const regions = new Map(s.regions.map((r) => [r.id, [r.lon, r.lat] as [number, number]]));
  fill(
    table,
    ['market', 'shop home', 'distance', 'est. RTT'],
    s.markets.map((m) => {
      const home = m.homes.shop ?? null;
      const at = marketPoint(m.country);
      const to = home ? regions.get(home) : undefined;
      const km = at && to ? distanceKm(at, to) : undefined;
      return [
        `${m.name} (${m.country})`,
        home ?? '-',
        km === undefined ? '-' : `${number.format(Math.round(km))} km`,
        km === undefined ? '-' : `${forecastRttMs(km)} ms`,
      ];
    }),
    'The policy has no markets.',
  );
}

export function drawConsent(box: HTMLElement, s: DashboardSummary): void {
  box.replaceChildren();
  if (s.consent.length === 0) {
    box.textContent = 'The policy asks for no consent.';
    return;
  }
  for (const c of s.consent) {
    const total = c.granted + c.denied + c.withdrawn + c.outdated;
    const rate = total === 0 ? 0 : Math.round((100 * c.granted) / total);
    const label = document.createElement('p');
    label.textContent = `${c.purpose}: ${total === 0 ? 'nobody asked yet' : `${rate}% granted (${c.granted} of ${total}; ${c.denied} denied, ${c.withdrawn} withdrawn, ${c.outdated} on an older notice)`}`;
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.setAttribute('role', 'img');
    bar.setAttribute('aria-label', label.textContent);
    for (const part of ['granted', 'denied', 'withdrawn', 'outdated'] as const) {
      if (total === 0 || c[part] === 0) continue;
      const span = document.createElement('span');
      span.className = part;
      span.style.width = `${(100 * c[part]) / total}%`;
      bar.append(span);
    }
    box.append(label, bar);
  }
}

export function drawPauses(svg: SVGSVGElement, pauses: readonly number[]): void {
  const ns = 'http://www.w3.org/2000/svg';
  svg.replaceChildren();
  const max = Math.max(60, ...pauses);
  const width = 400;
  const height = 100;
  const bar = pauses.length === 0 ? 0 : Math.max(1, (width - 30) / pauses.length);
  const y = (ms: number) => height - (ms / max) * (height - 10);
  const limit = document.createElementNS(ns, 'line');
  for (const [k, v] of Object.entries({ x1: 30, x2: width, y1: y(50), y2: y(50), class: 'pause-limit' }))
    limit.setAttribute(k, String(v));
  const label = document.createElementNS(ns, 'text');
  for (const [k, v] of Object.entries({ x: 0, y: y(50) + 3, class: 'axis' })) label.setAttribute(k, String(v));
  label.textContent = '50 ms';
  svg.append(limit, label);
  pauses.forEach((ms, i) => {
    const rect = document.createElementNS(ns, 'rect');
    for (const [k, v] of Object.entries({
      x: 30 + i * bar,
      y: y(ms),
      width: Math.max(0.5, bar - 1),
      height: height - y(ms),
      class: 'pause-bar',
    }))
      rect.setAttribute(k, String(v));
    const title = document.createElementNS(ns, 'title');
    title.textContent = `batch ${i + 1}: ${ms.toFixed(1)} ms`;
    rect.append(title);
    svg.append(rect);
  });
  const axis = document.createElementNS(ns, 'text');
  for (const [k, v] of Object.entries({ x: 30, y: 115, class: 'axis' })) axis.setAttribute(k, String(v));
  axis.textContent =
    pauses.length === 0
      ? 'no batch cut over yet'
      : `${pauses.length} batches; max ${Math.max(...pauses).toFixed(1)} ms`;
  svg.append(axis);
}

/** The migration panel: state, progress in users cut over, figures, and which buttons make sense. */
export function drawMigration(
  status: MigrationStatus | null,
  parts: {
    state: HTMLElement;
    progress: HTMLProgressElement;
    figures: HTMLElement;
    pause: HTMLButtonElement;
    resume: HTMLButtonElement;
  },
): void {
  if (!status) {
    parts.state.textContent = 'No migration has been started.';
    parts.progress.value = 0;
    parts.figures.replaceChildren();
    parts.pause.disabled = true;
    parts.resume.disabled = true;
    return;
  }
  const done = status.users.total === 0 ? 0 : (100 * status.users.cutOver) / status.users.total;
  parts.state.textContent = `Migration ${status.id}: ${status.state} (${status.services.join(', ')}, policy ${status.policy.name} v${status.policy.version})${status.error ? `: ${status.error}` : ''}`;
  parts.state.dataset.state = status.state;
  parts.progress.value = Math.round(done);
  parts.progress.dataset.cutOver = String(status.users.cutOver);
  const figures: Array<[string, string]> = [
    [
      'users cut over',
      `${number.format(status.users.cutOver)} of ${number.format(status.users.total)} (${done.toFixed(0)}%)`,
    ],
    ['rows moved', `${number.format(status.moved.rows)} (${bytes(status.moved.bytes)})`],
    ['rate', `${number.format(Math.round(status.rate.rowsPerSecond))} rows/s`],
    ['ETA', status.etaSeconds === null ? '-' : `${Math.ceil(status.etaSeconds)} s`],
    ['lag', `${status.lag.catchUp} to catch up, ${status.lag.reverse} to replicate back`],
    [
      'cut-over pauses',
      status.pauses
        ? `p50 ${status.pauses.p50Ms.toFixed(1)} ms, p99 ${status.pauses.p99Ms.toFixed(1)} ms, max ${status.pauses.maxMs.toFixed(1)} ms`
        : '-',
    ],
    ['next', status.next],
  ];
  parts.figures.replaceChildren(
    ...figures.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
  parts.pause.disabled = status.state !== 'running';
  parts.resume.disabled = !['paused', 'interrupted', 'failed'].includes(status.state);
}
