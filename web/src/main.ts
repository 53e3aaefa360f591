import './style.css';
import { type DashboardSummary, type MigrationStatus, OperatorApi, Refused } from './api.js';
import {
  drawAudit,
  drawConsent,
  drawLatency,
  drawMigration,
  drawPauses,
  drawPlacement,
  drawRegions,
  drawTransfers,
} from './panels.js';
import { drawMap } from './world-map.js';

function byId<T extends Element>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as unknown as T;
}

const storageKey = 'domicile-operator-token';
const login = byId<HTMLElement>('login');
const app = byId<HTMLElement>('app');
const status = byId<HTMLElement>('status');
const loginError = byId<HTMLElement>('login-error');
const signOut = byId<HTMLButtonElement>('sign-out');
const migrationParts = {
  state: byId<HTMLElement>('migration-state'),
  progress: byId<HTMLProgressElement>('migration-progress'),
  figures: byId<HTMLElement>('migration-figures'),
  pause: byId<HTMLButtonElement>('pause'),
  resume: byId<HTMLButtonElement>('resume'),
};

let api: OperatorApi | undefined;
let stream: AbortController | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let lastState = '';

function render(summary: DashboardSummary): void {
  byId<HTMLElement>('policy').textContent =
    `Policy "${summary.policy.name}" (version ${summary.policy.version}), ${summary.residency.violations.length === 0 ? 'no violations' : `${summary.residency.violations.length} violation(s)`}; updated ${new Date(summary.generatedAt).toLocaleTimeString()}`;
  drawMap(byId<SVGSVGElement>('map'), summary);
  drawMigration(summary.migration, migrationParts);
  drawPauses(byId<SVGSVGElement>('pauses'), summary.pauses);
  drawAudit(byId<HTMLTableElement>('audit'), summary);
  drawConsent(byId<HTMLElement>('consent'), summary);
  drawLatency(byId<HTMLTableElement>('latency'), summary);
  drawPlacement(byId<HTMLTableElement>('placement'), summary);
  drawTransfers(byId<HTMLTableElement>('transfers'), summary);
  drawRegions(byId<HTMLTableElement>('regions'), summary);
}

function showLogin(message: string): void {
  stream?.abort();
  api = undefined;
  sessionStorage.removeItem(storageKey);
  app.hidden = true;
  signOut.hidden = true;
  login.hidden = false;
  loginError.textContent = message;
}

function failed(err: unknown): void {
  if (err instanceof Refused) showLogin(`Refused: ${err.message}. The dashboard needs the operator credential.`);
  else status.textContent = `Could not reach the platform: ${(err as Error).message}`;
}

async function refresh(): Promise<void> {
  if (!api) return;
  try {
    render(await api.summary());
    status.textContent = '';
  } catch (err) {
    failed(err);
  }
}

/** A migration's progress arrives as events; the rest (arcs, tables, pauses) follows a moment later. */
function onMigration(next: MigrationStatus | null): void {
  drawMigration(next, migrationParts);
  const state = next ? `${next.id}:${next.state}:${next.users.cutOver}` : '';
  if (state === lastState) return;
  lastState = state;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refresh(), 400);
}

async function start(token: string): Promise<void> {
  api = new OperatorApi(token);
  try {
    const summary = await api.summary();
    sessionStorage.setItem(storageKey, token);
    login.hidden = true;
    app.hidden = false;
    signOut.hidden = false;
    loginError.textContent = '';
    render(summary);
    performance.mark('dashboard:first-render');
    document.body.dataset.rendered = 'true';
    stream = new AbortController();
    api.follow(onMigration, stream.signal).catch(failed);
  } catch (err) {
    failed(err);
  }
}

byId<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>('token');
  void start(input.value.trim());
  input.value = '';
});
signOut.addEventListener('click', () => showLogin(''));
for (const action of ['pause', 'resume'] as const) {
  migrationParts[action].addEventListener('click', () => {
    migrationParts[action].disabled = true;
    api
      ?.steer(action)
      .then((s) => onMigration(s))
      .catch(failed);
  });
}
// Tables and the map keep up with what users do, every 10 s.
setInterval(() => {
  if (api && !app.hidden && document.visibilityState === 'visible') void refresh();
}, 10_000);

const saved = sessionStorage.getItem(storageKey);
if (saved) void start(saved);
