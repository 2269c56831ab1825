import type { PartitionRange } from './rotation-jobs.repository';

/** More would cost more to sum up in a job's view than it spreads work. */
export const MAX_PARTITIONS = 10_000;

/**
 * Splits the ids from `ids.first` to `ids.last` into ranges of equal width, about one per
 * `size` accounts to rotate: every id is in exactly one range, the first starts below every id
 * (at 0 or lower) and the last has no upper bound, so accounts written later are in it too. A
 * job with at most `size` accounts, or none, is one range.
 */
export function planPartitions(
  accounts: number,
  ids: { first: number; last: number } | undefined,
  size: number,
): PartitionRange[] {
  const start = Math.min(0, (ids?.first ?? 1) - 1);
  if (!ids || accounts <= size) return [{ afterId: start, throughId: null }];
  const span = ids.last - start;
  const width = Math.ceil(span / Math.min(MAX_PARTITIONS, Math.ceil(accounts / size), span));
  const count = Math.ceil(span / width);
  return Array.from({ length: count }, (_, index) => ({
    afterId: start + index * width,
    throughId: index === count - 1 ? null : start + (index + 1) * width,
  }));
}
