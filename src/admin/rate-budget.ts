/** Keys tracked per window; past it, new keys share one budget, so memory stays bounded. */
const MAX_KEYS = 50_000;
const OVERFLOW_KEY = '\0overflow';

export interface BudgetAnswer {
  allowed: boolean;
  /** Seconds until the current window ends. */
  retryAfterSeconds: number;
}

/**
 * Requests allowed per key (a client address) in fixed windows of one minute. The counts live
 * in this process: each server instance keeps its own.
 */
export class RateBudget {
  private windowStartedAt = 0;
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): BudgetAnswer {
    const now = this.now();
    if (now - this.windowStartedAt >= this.windowMs) {
      this.counts.clear();
      this.windowStartedAt = now;
    }
    const tracked = this.counts.has(key) || this.counts.size < MAX_KEYS ? key : OVERFLOW_KEY;
    const count = (this.counts.get(tracked) ?? 0) + 1;
    this.counts.set(tracked, count);
    const retryAfterSeconds = Math.max(1, Math.ceil((this.windowStartedAt + this.windowMs - now) / 1000));
    return { allowed: count <= this.limit, retryAfterSeconds };
  }
}
