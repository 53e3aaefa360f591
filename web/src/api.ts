import type { MigrationStatus } from '../../src/migrate/migration-status.js';
import type { DashboardSummary } from '../../src/platform/dashboard-summary.js';

export type { DashboardSummary, MigrationStatus };

/** The operator API refused the credential: the page asks for it again. */
export class Refused extends Error {}

/** The operator API, called with the operator credential (never a user's token). */
export class OperatorApi {
  constructor(private readonly token: string) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  private async call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    const res = await fetch(path, { method, headers: this.headers() });
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (res.status === 401) throw new Refused(body?.error?.message ?? 'the operator credential was refused');
    if (!res.ok) throw new Error(body?.error?.message ?? `the platform answered ${res.status}`);
    return body as T;
  }

  summary(): Promise<DashboardSummary> {
    return this.call('GET', '/v1/ops/dashboard');
  }

  steer(action: 'pause' | 'resume'): Promise<MigrationStatus> {
    return this.call('POST', `/v1/ops/migrations/current/${action}`);
  }

  /**
   * Follows the migration's Server-Sent Events. EventSource cannot send the credential in a
   * header, and a token in the URL would end up in logs, so the stream is read with fetch.
   * Reconnects after a second when the stream ends; stops when `signal` aborts.
   */
  async follow(onStatus: (status: MigrationStatus | null) => void, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const res = await fetch('/v1/ops/events', { headers: this.headers({ accept: 'text/event-stream' }), signal });
        if (res.status === 401) throw new Refused('the operator credential was refused');
        if (!res.ok || !res.body) throw new Error(`the event stream answered ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = message
              .split('\n')
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n');
            if (message.includes('event: migration') && data) onStatus(JSON.parse(data) as MigrationStatus | null);
          }
        }
      } catch (err) {
        if (signal.aborted || err instanceof Refused) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}
