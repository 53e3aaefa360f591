/**
 * When a batch that has requests waiting leaves:
 * - 'in-flight' (the default): as soon as fewer than `inFlight` batches are on their way, so a
 *   request that arrives while they are waits for one to come back and leaves with every other
 *   that waited. A lone request leaves at once, so an idle store adds no latency (PostgreSQL's
 *   reads and writes: company comes from the round trips in flight).
 * - 'turn': a request alone in its turn of the event loop leaves at once; once two come in one
 *   turn, requests gather until the turn ends (setImmediate), until a turn brings one alone
 *   again (the SQLite store's writes, whose commits are synchronous: there is no round trip
 *   to wait for, so the turn is the window).
 * - `{ ms }`: every batch waits that long after its first request (the flash-sale ledger,
 *   whose claims come thousands a second and share an fsync when they wait 2 ms).
 */
export type BatcherGather = 'in-flight' | 'turn' | { ms: number };

export interface BatcherOptions {
  /** Batches gathering or on their way at once (default 1). */
  inFlight?: number;
  /** Most requests in one batch (default: no limit). */
  maxBatch?: number;
  /** When a batch leaves (default 'in-flight'; see BatcherGather). */
  gather?: BatcherGather;
}

interface Waiter<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * Requests that share one statement, commit or fsync: a group commit. Busy callers pay a
 * round trip (and, for writes, a commit and a flush to disk) per batch, not per request. The
 * answer of each request is its own: `run` answers the batch in order (an answer may itself
 * say that its request was refused), or fails it as a whole. `run` may answer synchronously
 * (better-sqlite3), and then the batch is settled before `run`'s caller goes on.
 */
export class Batcher<T, R> {
  private waiting: Array<Waiter<T, R>> = [];
  private running = 0;
  private readonly inFlight: number;
  private readonly maxBatch: number;
  private readonly gather: BatcherGather;
  /** The batch gathering now, and how to send it at once (see leaveNow). */
  private gathering: { cancel: () => void; leave: () => void } | undefined;
  /** 'turn' only: whether requests are gathered (two came in one turn lately), and how many came in this turn. */
  private grouping = false;
  private thisTurn = 0;

  constructor(
    private readonly run: (items: T[]) => R[] | Promise<R[]>,
    options: BatcherOptions = {},
  ) {
    this.inFlight = options.inFlight ?? 1;
    this.maxBatch = options.maxBatch ?? Infinity;
    this.gather = options.gather ?? 'in-flight';
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.next();
    });
  }

  /** Sends the batch that is gathering now, at once (a store that closes commits what was asked for). */
  leaveNow(): void {
    const gathering = this.gathering;
    if (!gathering) return;
    gathering.cancel();
    gathering.leave();
  }

  private next(): void {
    while (this.running < this.inFlight && this.waiting.length > 0) {
      this.running++;
      const gather = this.gather;
      if (gather === 'in-flight' || (gather === 'turn' && this.alone())) {
        this.leave();
      } else {
        const leave = () => {
          this.gathering = undefined;
          this.leave();
        };
        if (gather === 'turn') {
          const immediate = setImmediate(leave);
          this.gathering = { cancel: () => clearImmediate(immediate), leave };
        } else {
          const timer = setTimeout(leave, gather.ms);
          this.gathering = { cancel: () => clearTimeout(timer), leave };
        }
      }
    }
  }

  /** 'turn': whether this request came alone; the first of a turn while nobody gathers is, a second in that turn starts gathering. */
  private alone(): boolean {
    if (this.grouping) return false;
    if (this.thisTurn === 0) setImmediate(() => (this.thisTurn = 0));
    this.thisTurn += 1;
    if (this.thisTurn === 1) return true;
    this.grouping = true;
    return false;
  }

  private leave(): void {
    const batch = this.waiting.splice(0, this.maxBatch);
    // A gathered batch of one: the requests are alone again, and leave at once from the next turn.
    if (this.gather === 'turn' && batch.length <= 1) this.grouping = false;
    const done = () => {
      this.running--;
      this.next();
    };
    if (batch.length === 0) {
      done();
      return;
    }
    let results: R[] | Promise<R[]>;
    try {
      results = this.run(batch.map((w) => w.item));
    } catch (err) {
      for (const w of batch) w.reject(err);
      done();
      return;
    }
    if (results instanceof Promise) {
      results
        .then(
          (answers) => {
            for (const [i, w] of batch.entries()) w.resolve(answers[i]!);
          },
          (err: unknown) => {
            for (const w of batch) w.reject(err);
          },
        )
        .finally(done);
    } else {
      for (const [i, w] of batch.entries()) w.resolve(results[i]!);
      done();
    }
  }
}
