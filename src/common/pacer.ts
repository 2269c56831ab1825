import { sleep } from './sleep';

/**
 * Spaces calls at least `intervalMs` apart: at most `60000 / intervalMs` a minute, and never a
 * burst of them. Each caller is given the next free slot and waits for it.
 */
export class Pacer {
  private nextAt = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void> = sleep,
  ) {}

  /** At most `perMinute` calls in any minute. */
  static perMinute(perMinute: number): Pacer {
    return new Pacer(60_000 / perMinute);
  }

  /** Resolves at this caller's slot (at once when it is free), or early when `signal` aborts. */
  async take(signal?: AbortSignal): Promise<void> {
    const now = this.now();
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + this.intervalMs;
    if (at > now) await this.wait(at - now, signal);
  }
}
