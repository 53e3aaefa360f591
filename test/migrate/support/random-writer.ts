import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { Send } from './http-sender.js';

export interface TestUser {
  userId: string;
  token: string;
  market: string;
  email: string;
  password: string;
}

/** The collections the writer uses: none needs a consent purpose. */
export const writable: ReadonlyArray<readonly [service: string, collection: string]> = [
  ['shop', 'cart'],
  ['shop', 'orders'],
  ['shop', 'addresses'],
  ['account', 'identity'],
  ['messaging', 'messages'],
];

interface Entry {
  userId: string;
  service: string;
  collection: string;
  key: string;
  value: unknown;
  version: number;
}

/** What the platform acknowledged, record by record: the truth a migration must keep. */
export class WriteModel {
  readonly records = new Map<string, Entry>();
  readonly counts = { insert: 0, update: 0, delete: 0, refused: 0, unknown: 0 };
  readonly anomalies: string[] = [];

  get acknowledged(): number {
    return this.counts.insert + this.counts.update + this.counts.delete;
  }

  /** A copy, for a test that runs several cases from one seeded state. */
  clone(): WriteModel {
    const copy = new WriteModel();
    for (const [id, e] of this.records) copy.records.set(id, { ...e });
    return copy;
  }

  keysOf(userId: string): Entry[] {
    return [...this.records.values()].filter((e) => e.userId === userId);
  }
}

export async function registerUsers(
  send: Send,
  markets: readonly string[],
  perMarket: number,
  prefix: string,
): Promise<TestUser[]> {
  const users: TestUser[] = [];
  for (const market of markets) {
    for (let i = 0; i < perMarket; i++) {
      const email = `${prefix}-${market.toLowerCase()}-${i}@example.com`;
      const password = 'migrate-password';
      const res = await send('POST', '/v1/accounts', undefined, { email, password, market });
      if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.json)}`);
      const { userId, token } = res.json as { userId: string; token: string };
      users.push({ userId, token, market, email, password });
    }
  }
  return users;
}

let counter = 0;

/**
 * A random writer: concurrent loops, each owning a share of the users (so that one key is
 * written by one loop, in order), doing about a third inserts, updates and deletes. A write is
 * in the model once acknowledged. A refusal (FENCED past the gateway's retries, 503) is
 * retried; an exchange with no answer (the server was killed) is retried until one comes, so
 * the model is exact whatever happened to the lost attempt.
 */
export class RandomWriter {
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly send: Send,
    private readonly users: readonly TestUser[],
    readonly model: WriteModel,
    private readonly options: { concurrency?: number; pauseMs?: number } = {},
  ) {}

  start(): void {
    this.running = true;
    const n = this.options.concurrency ?? 4;
    for (let i = 0; i < n; i++) this.loops.push(this.loop(this.users.filter((_, j) => j % n === i)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Writes while `work` runs, and stops (waiting for writes in flight) however it ends. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    this.start();
    try {
      return await work();
    } finally {
      await this.stop();
    }
  }

  /** Writes `count` new records for every user, before any migration. */
  async seed(count: number): Promise<void> {
    for (const user of this.users) for (let i = 0; i < count; i++) await this.perform(user, 'insert');
  }

  private async loop(mine: readonly TestUser[]): Promise<void> {
    if (mine.length === 0) return;
    while (this.running) {
      const user = mine[Math.floor(Math.random() * mine.length)]!;
      const r = Math.random();
      await this.perform(user, r < 1 / 3 ? 'insert' : r < 2 / 3 ? 'update' : 'delete');
      if (this.options.pauseMs) await sleep(this.options.pauseMs);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async perform(user: TestUser, wanted: 'insert' | 'update' | 'delete'): Promise<void> {
    const existing = this.model.keysOf(user.userId);
    const op = existing.length === 0 ? 'insert' : wanted;
    let target: { service: string; collection: string; key: string };
    if (op === 'insert') {
      const [service, collection] = writable[Math.floor(Math.random() * writable.length)]!;
      target = { service, collection, key: `w${++counter}-${process.pid}` };
    } else {
      target = existing[Math.floor(Math.random() * existing.length)]!;
    }
    const value = { n: ++counter, op, note: 'x'.repeat(Math.floor(Math.random() * 200)) };
    const path = `/v1/me/${target.service}/${target.collection}/${target.key}`;
    const id = `${user.userId}/${target.service}/${target.collection}/${target.key}`;
    const deadline = Date.now() + 60_000;
    let uncertain = false;
    for (;;) {
      if (Date.now() > deadline) {
        this.model.anomalies.push(`${op} ${id}: no definitive answer within 60 s`);
        return;
      }
      let reply: Awaited<ReturnType<Send>>;
      try {
        reply = await this.send(
          op === 'delete' ? 'DELETE' : 'PUT',
          path,
          user.token,
          op === 'delete' ? undefined : value,
        );
      } catch {
        // No answer: the write may or may not have happened. Retry until one comes.
        if (!uncertain) this.model.counts.unknown++;
        uncertain = true;
        await sleep(20);
        continue;
      }
      if (op !== 'delete' && reply.status === 200) {
        this.model.records.set(id, {
          userId: user.userId,
          ...target,
          value,
          version: (reply.json as { version: number }).version,
        });
        this.model.counts[op]++;
        return;
      }
      if (op === 'delete' && (reply.status === 204 || (reply.status === 404 && uncertain))) {
        this.model.records.delete(id);
        this.model.counts.delete++;
        return;
      }
      if (reply.status === 503) {
        this.model.counts.refused++;
        // Refused, so not applied: a stopping writer may drop it (an unknown outcome it may not).
        if (!this.running && !uncertain) return;
        await sleep(5);
        continue;
      }
      this.model.anomalies.push(`${op} ${id}: ${reply.status} ${JSON.stringify(reply.json)}`);
      return;
    }
  }
}

/** Every difference between what the platform serves and what it acknowledged. */
export async function modelProblems(send: Send, users: readonly TestUser[], model: WriteModel): Promise<string[]> {
  const problems: string[] = [...model.anomalies];
  for (const user of users) {
    for (const [service, collection] of writable) {
      const res = await send('GET', `/v1/me/${service}/${collection}`, user.token);
      if (res.status !== 200) {
        problems.push(
          `${user.userId} ${service}/${collection}: list answered ${res.status} ${JSON.stringify(res.json)}`,
        );
        continue;
      }
      const served = new Map(
        (res.json as { records: Array<{ key: string; value: unknown; version: number }> }).records.map((r) => [
          r.key,
          r,
        ]),
      );
      const expected = model.keysOf(user.userId).filter((e) => e.service === service && e.collection === collection);
      for (const e of expected) {
        const got = served.get(e.key);
        if (!got)
          problems.push(
            `${user.userId} ${service}/${collection}/${e.key}: lost (acknowledged at version ${e.version})`,
          );
        else if (got.version !== e.version || !isDeepStrictEqual(got.value, e.value)) {
          problems.push(
            `${user.userId} ${service}/${collection}/${e.key}: served version ${got.version}, acknowledged ${e.version}${isDeepStrictEqual(got.value, e.value) ? '' : ' with another value'}`,
          );
        }
        served.delete(e.key);
      }
      for (const key of served.keys())
        problems.push(`${user.userId} ${service}/${collection}/${key}: served but deleted (or never acknowledged)`);
    }
  }
  return problems;
}
