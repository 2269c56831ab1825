import { backoffMs } from './backoff';

describe('backoffMs', () => {
  it('doubles from the first wait and stays at the longest one', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 100].map((attempt) =>
      backoffMs(attempt, { firstMs: 500, maxMs: 30_000 }),
    );
    expect(waits).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });

  it('waits the first wait before any retry has been counted', () => {
    expect(backoffMs(0, { firstMs: 1_000, maxMs: 30_000 })).toBe(1_000);
  });

  it('never exceeds the longest wait, however many attempts', () => {
    expect(backoffMs(Number.MAX_SAFE_INTEGER, { firstMs: 1_000, maxMs: 30_000 })).toBe(30_000);
  });
});
