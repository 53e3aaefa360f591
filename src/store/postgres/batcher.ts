/**
 * Requests to a PostgreSQL store that share statements: one that arrives while `inFlight`
 * batches are already on their way waits for one of them to come back and then leaves with
 * every other that waited, as one statement. A lone request leaves at once, so an idle region
 * adds no latency; a busy one pays a round trip (and, for writes, a commit and a WAL flush) per
 * batch, not per request. The answer of each request is its own: `run` answers the batch in
 * order, or fails it as a whole.
 */
export class Batcher<T, R> {
  private readonly waiting: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private running = 0;

  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly options: { inFlight: number; maxBatch: number },
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.next();
    });
  }

  private next(): void {
    while (this.running < this.options.inFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.running++;
      this.run(batch.map((w) => w.item)).then(
        (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
        (err: unknown) => batch.forEach((w) => w.reject(err)),
      ).finally(() => {
        this.running--;
        this.next();
      });
    }
  }
}
