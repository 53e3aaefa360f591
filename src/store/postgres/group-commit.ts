/**
 * Group commit for a PostgreSQL store's writes: a write that arrives while `inFlight` batches
 * are already on their way waits for one of them to come back and then leaves with every other
 * write that waited, as one statement, one transaction and one WAL flush. A lone write leaves at
 * once, so an idle region adds no latency; a busy one pays a round trip and a commit per batch,
 * not per write. The answer of each write is its own: `run` answers the batch in order.
 */
export class GroupCommit<T, R> {
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
