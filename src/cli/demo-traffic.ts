import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';

/** A user of the demo: registered through the gateway, with a token. */
export interface DemoUser {
  userId: string;
  token: string;
  market: string;
}

/** The collections the demo's users write: none needs a consent purpose. */
const collections = [
  ['shop', 'cart'],
  ['shop', 'orders'],
  ['account', 'identity'],
  ['messaging', 'messages'],
] as const;

interface Acked {
  user: DemoUser;
  path: string;
  value: unknown;
  version: number;
}

/**
 * Synthetic traffic through the gateway, from every market at once: about a third inserts,
 * updates and deletes, and reads of what was written, which must return the last value the
 * gateway acknowledged (never a stale copy). Each loop owns a share of the users, so a key's
 * writes and reads are in order and the check is exact. A write refused while its user is
 * fenced past the gateway's retries is not acknowledged, and is counted as refused.
 */
export class DemoTraffic {
  private readonly acked = new Map<string, Acked>();
  /** Records whose deletion was acknowledged: they must stay gone. */
  private readonly deleted = new Map<string, { user: DemoUser; path: string }>();
  private running = false;
  private loops: Promise<void>[] = [];
  private n = 0;
  readonly counts = { writes: 0, reads: 0, refused: 0, staleReads: 0, errors: 0 };

  constructor(
    private readonly app: () => FastifyInstance,
    private readonly users: readonly DemoUser[],
  ) {}

  private async send(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    const res = await this.app().inject({
      method,
      url: path,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, json: res.body ? (JSON.parse(res.body) as unknown) : null };
  }

  start(concurrency = 4): void {
    this.running = true;
    for (let i = 0; i < concurrency; i++)
      this.loops.push(this.loop(this.users.filter((_, j) => j % concurrency === i)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Writes `count` records for every user (before any migration). */
  async seed(count: number): Promise<void> {
    for (const user of this.users) for (let i = 0; i < count; i++) await this.write(user, 'insert');
  }

  private async loop(mine: readonly DemoUser[]): Promise<void> {
    while (this.running && mine.length > 0) {
      const user = mine[Math.floor(Math.random() * mine.length)]!;
      const r = Math.random();
      if (r < 0.25) await this.read(user);
      else await this.write(user, r < 0.5 ? 'insert' : r < 0.75 ? 'update' : 'delete');
      await sleep(1);
    }
  }

  private mineOf(user: DemoUser): Acked[] {
    return [...this.acked.values()].filter((a) => a.user === user);
  }

  private async read(user: DemoUser): Promise<void> {
    const known = this.mineOf(user);
    const target = known[Math.floor(Math.random() * known.length)];
    if (!target) return;
    const res = await this.send('GET', target.path, user.token);
    this.counts.reads++;
    const got = res.json as { value?: unknown; version?: number } | null;
    if (res.status === 503) this.counts.refused++;
    else if (res.status !== 200 || got?.version !== target.version || !isDeepStrictEqual(got.value, target.value))
      this.counts.staleReads++;
  }

  private async write(user: DemoUser, wanted: 'insert' | 'update' | 'delete'): Promise<void> {
    const known = this.mineOf(user);
    const op = known.length === 0 ? 'insert' : wanted;
    let path: string;
    if (op === 'insert') {
      const [service, collection] = collections[Math.floor(Math.random() * collections.length)]!;
      path = `/v1/me/${service}/${collection}/d${++this.n}`;
    } else {
      path = known[Math.floor(Math.random() * known.length)]!.path;
    }
    const value = { n: ++this.n, market: user.market, note: 'x'.repeat(100 + (this.n % 400)) };
    const res = await this.send(
      op === 'delete' ? 'DELETE' : 'PUT',
      path,
      user.token,
      op === 'delete' ? undefined : value,
    );
    const id = `${user.userId}${path}`;
    if (res.status === 503) {
      this.counts.refused++;
    } else if (op === 'delete' && res.status === 204) {
      this.acked.delete(id);
      this.deleted.set(id, { user, path });
      this.counts.writes++;
    } else if (op !== 'delete' && res.status === 200) {
      this.acked.set(id, { user, path, value, version: (res.json as { version: number }).version });
      this.counts.writes++;
    } else {
      this.counts.errors++;
    }
  }

  /** Acknowledged writes the gateway does not serve as acknowledged (a record changed, gone, or back from deletion). */
  async lost(): Promise<number> {
    let lost = 0;
    for (const d of this.deleted.values()) {
      if ((await this.send('GET', d.path, d.user.token)).status !== 404) lost++;
    }
    for (const a of this.acked.values()) {
      const res = await this.send('GET', a.path, a.user.token);
      const got = res.json as { value?: unknown; version?: number } | null;
      if (res.status !== 200 || got?.version !== a.version || !isDeepStrictEqual(got.value, a.value)) lost++;
    }
    return lost;
  }
}
