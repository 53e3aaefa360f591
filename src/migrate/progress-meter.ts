/**
 * What the engine measures as it goes, for `migrate status` and its progress bar: the rows
 * and users moved per second over the last few seconds, and how far behind the change logs
 * the catch-up and the reverse replication are. In memory: after a restart, rates start over.
 */
export class ProgressMeter {
  private samples: Array<{ at: number; rows: number; bytes: number; users: number }> = [];
  /** Source changes of the batch in catch-up not applied yet (last seen). */
  catchUpLag = 0;
  /** Destination changes of cut-over users not replicated back yet (last seen). */
  reverseLag = 0;
  /** Why the last reverse-replication pass failed, if it did (null once one succeeds). */
  reverseError: string | null = null;

  constructor(private readonly windowMs = 5_000) {}

  record(rows: number, bytes: number, users = 0): void {
    const now = performance.now();
    this.samples.push({ at: now, rows, bytes, users });
    this.trim(now);
  }

  rates(): { rowsPerSecond: number; bytesPerSecond: number; usersPerSecond: number } {
    const now = performance.now();
    this.trim(now);
    const first = this.samples[0];
    if (!first) return { rowsPerSecond: 0, bytesPerSecond: 0, usersPerSecond: 0 };
    // At least a second: a rate over the few milliseconds since the first sample means nothing.
    const seconds = Math.max(1000, now - first.at) / 1000;
    const sum = this.samples.reduce(
      (s, x) => ({ rows: s.rows + x.rows, bytes: s.bytes + x.bytes, users: s.users + x.users }),
      { rows: 0, bytes: 0, users: 0 },
    );
    return {
      rowsPerSecond: sum.rows / seconds,
      bytesPerSecond: sum.bytes / seconds,
      usersPerSecond: sum.users / seconds,
    };
  }

  private trim(now: number): void {
    while (this.samples.length > 0 && now - (this.samples[0]?.at ?? now) > this.windowMs) this.samples.shift();
  }
}
