import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A rows-per-second cap on what the migration imports (a token bucket holding at most one
 * second of rows). The rate is read on every call, so an operator's change applies at once.
 */
export class RateLimiter {
  private tokens = 0;
  private last = performance.now();

  constructor(private readonly rate: () => number | Promise<number>) {}

  /** Waits until `rows` more rows fit under the cap; returns at once when there is none. */
  async take(rows: number): Promise<void> {
    const rate = await this.rate();
    const now = performance.now();
    if (rate <= 0) {
      this.last = now;
      return;
    }
    this.tokens = Math.min(rate, this.tokens + ((now - this.last) * rate) / 1000);
    this.last = now;
    this.tokens -= rows;
    if (this.tokens < 0) await sleep(Math.ceil((-this.tokens / rate) * 1000));
  }
}
