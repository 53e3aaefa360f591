import pg from 'pg';
import type { KeyWatchEvent } from '../region-store.js';

/** The channel announce_key_shred() (schema migration 8) notifies on, database-wide. */
export const keyShredChannel = 'domicile_key_shreds';

/** First wait before listening again after the connection is lost; doubled up to the most. */
const firstRetryMs = 200;
const mostRetryMs = 5_000;

/**
 * One connection of its own that LISTENs for the region's key shreds: a node of a pool hears
 * every key that another node deletes at that transaction's commit. Notices are not kept for
 * a listener that is away, so losing the connection is told ('deaf': trust no cached key) and
 * so is listening again ('listening'); in between it reconnects, waiting longer each time.
 * TCP keep-alive finds a connection that died without a word.
 */
export class PgKeyWatch {
  private client: pg.Client | undefined;
  private schema = '';
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private retryMs = firstRetryMs;
  /** The server process of the listening connection (none while deaf): what an operator or a test ends to see it recover. */
  listenerPid: number | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly heard: (event: KeyWatchEvent) => void,
  ) {}

  /** Resolves once listening; rejects when the first connection fails (the store is then unusable anyway). */
  async start(): Promise<void> {
    await this.listen();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ ...this.config, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => this.notice(n.payload));
    try {
      await client.connect();
      // The schema the keys table is found in through the search_path: the one its trigger names.
      const row = await client.query<{ schema: string; pid: number }>(
        `SELECT n.nspname AS schema, pg_backend_pid() AS pid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'keys'::regclass`,
      );
      this.schema = row.rows[0]!.schema;
      this.listenerPid = row.rows[0]!.pid;
      await client.query(`LISTEN ${keyShredChannel}`);
    } catch (err) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = firstRetryMs;
  }

  private notice(payload: string | undefined): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload ?? '');
    } catch {
      return;
    }
    if (!Array.isArray(parsed) || parsed.length !== 3) return;
    const [schema, userId, scope] = parsed;
    if (schema !== this.schema || typeof userId !== 'string' || typeof scope !== 'string') return;
    this.heard({ type: 'shredded', userId, scope });
  }

  /** The connection is gone: say so at once (notices may be missed from now), then listen again. */
  private lost(client: pg.Client): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.listenerPid = undefined;
    client.end().catch(() => undefined);
    this.heard({ type: 'deaf' });
    this.again();
  }

  private again(): void {
    if (this.closed) return;
    this.retry = setTimeout(() => {
      this.listen().then(
        () => {
          if (!this.closed) this.heard({ type: 'listening' });
        },
        () => {
          this.retryMs = Math.min(this.retryMs * 2, mostRetryMs);
          this.again();
        },
      );
    }, this.retryMs);
    this.retry.unref();
  }
}
