export interface BackoffLimits {
  /** The wait before the first retry. */
  firstMs: number;
  /** The longest wait. */
  maxMs: number;
}

/** The wait before retry number `attempt` (1 for the first): doubles from `firstMs` up to `maxMs`. */
export function backoffMs(attempt: number, { firstMs, maxMs }: BackoffLimits): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}
