import { DomicileError } from '../errors/domicile-error.js';

export interface BoundedConcurrencyOptions {
  /** How many tasks run at once (an integer ≥ 1). */
  concurrency: number;
  /** How many more may wait for a turn (an integer ≥ 0); past that, a task is refused at once. */
  maxQueue: number;
}

export interface BoundedConcurrencyStats {
  running: number;
  queued: number;
  /** The most that ran at once since the bounds were last set. */
  peakRunning: number;
  /** Tasks that ran to the end (resolved or rejected). */
  completed: number;
  /** Tasks refused because the queue was full (by run or admit). */
  refused: number;
}

/** Validated options; BAD_REQUEST naming `what` (a flag or option name) otherwise. */
export function checkBoundedConcurrency(options: BoundedConcurrencyOptions, what: string): BoundedConcurrencyOptions {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1 || options.concurrency > 1024) {
    throw new DomicileError(
      'BAD_REQUEST',
      `${what}: concurrency is a whole number from 1 to 1024, not ${String(options.concurrency)}`,
    );
  }
  if (!Number.isInteger(options.maxQueue) || options.maxQueue < 0 || options.maxQueue > 1_000_000) {
    throw new DomicileError(
      'BAD_REQUEST',
      `${what}: the queue holds a whole number from 0 to 1000000 tasks, not ${String(options.maxQueue)}`,
    );
  }
  return options;
}

/**
 * Runs at most `concurrency` tasks at once, keeps at most `maxQueue` waiting in order, and
 * refuses the rest at once (by default UNAVAILABLE, retry after a second) rather than letting
 * a queue grow without bound: under a flood, waiting longer helps nobody.
 */
export class BoundedConcurrency {
  private options: BoundedConcurrencyOptions;
  private running = 0;
  private peakRunning = 0;
  private completed = 0;
  private refused = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    options: BoundedConcurrencyOptions,
    private readonly label: string,
    private readonly refusal: () => DomicileError = () =>
      new DomicileError('UNAVAILABLE', `too many ${label} at once: try again in a second`, {
        details: { retryAfterSeconds: 1 },
      }),
  ) {
    this.options = checkBoundedConcurrency(options, label);
  }

  /**
   * Throws the refusal now if a task would be refused now: a caller with costly work to do
   * before its task (reads, decryption) checks first rather than do that work for nothing.
   */
  admit(): void {
    if (this.full()) {
      this.refused++;
      throw this.refusal();
    }
  }

  private full(): boolean {
    return this.running >= this.options.concurrency && this.waiting.length >= this.options.maxQueue;
  }

  /** Changes the bounds; tasks already running or waiting keep their place. */
  configure(options: BoundedConcurrencyOptions): void {
    this.options = checkBoundedConcurrency(options, this.label);
    this.peakRunning = this.running;
    this.startWaiting();
  }

  get limits(): BoundedConcurrencyOptions {
    return { ...this.options };
  }

  stats(): BoundedConcurrencyStats {
    return {
      running: this.running,
      queued: this.waiting.length,
      peakRunning: this.peakRunning,
      completed: this.completed,
      refused: this.refused,
    };
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.options.concurrency) {
      if (this.full()) {
        this.refused++;
        throw this.refusal();
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    this.peakRunning = Math.max(this.peakRunning, this.running);
    try {
      return await task();
    } finally {
      this.completed++;
      this.running--;
      this.startWaiting();
    }
  }

  /** Hands free slots to the longest-waiting tasks (a slot is counted as taken before it resumes). */
  private startWaiting(): void {
    while (this.running < this.options.concurrency) {
      const next = this.waiting.shift();
      if (!next) return;
      this.running++;
      next();
    }
  }
}
