/**
 * Runs tasks of one key one after another, and tasks of different keys at once, in this process.
 * A key's entry is dropped when its last task ends, so the map holds only the keys in use.
 *
 * A task may hold several keys (the blob store's erasures and shreds hold every record they
 * touch). It queues behind all of them at once, in one synchronous step, so every key's queue
 * is in the order tasks asked: a task waits only for tasks that asked before it, and two tasks
 * that share keys never wait on each other, in whatever order they name them.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(keys: string | readonly string[], task: () => Promise<T>): Promise<T> {
    const held = typeof keys === 'string' ? [keys] : [...new Set(keys)];
    const before = held.map((key) => this.tails.get(key) ?? Promise.resolve());
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tails = held.map((key, i) => {
      const tail = before[i]!.then(() => mine);
      this.tails.set(key, tail);
      return tail;
    });
    await (before.length === 1 ? before[0] : Promise.all(before));
    try {
      return await task();
    } finally {
      release();
      held.forEach((key, i) => {
        if (this.tails.get(key) === tails[i]) this.tails.delete(key);
      });
    }
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }
}
