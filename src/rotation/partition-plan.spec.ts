import fc from 'fast-check';
import { MAX_PARTITIONS, planPartitions } from './partition-plan';

/** The range holding `id`, by its position in the plan. */
function rangeOf(plan: ReturnType<typeof planPartitions>, id: number): number[] {
  return plan.flatMap((range, index) =>
    id > range.afterId && (range.throughId === null || id <= range.throughId) ? [index] : [],
  );
}

describe('planPartitions', () => {
  it('is one unbounded range for a small job or no accounts', () => {
    expect(planPartitions(500, { first: 1, last: 900 }, 1000)).toEqual([{ afterId: 0, throughId: null }]);
    expect(planPartitions(0, undefined, 1000)).toEqual([{ afterId: 0, throughId: null }]);
  });

  it('splits the ids into ranges of equal width, about one per `size` accounts', () => {
    expect(planPartitions(1_000_000, { first: 1, last: 1_000_000 }, 250_000)).toEqual([
      { afterId: 0, throughId: 250_000 },
      { afterId: 250_000, throughId: 500_000 },
      { afterId: 500_000, throughId: 750_000 },
      { afterId: 750_000, throughId: null },
    ]);
    expect(planPartitions(100_000_000, { first: 1, last: 100_000_000 }, 1)).toHaveLength(MAX_PARTITIONS);
  });

  it('puts every id, and every id written later, in exactly one range, in order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1000, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 100, max: 50_000 }),
        (first, length, accounts, size) => {
          const ids = { first, last: first + length };
          const plan = planPartitions(accounts, ids, size);
          for (const id of [first, first + 1, ids.last - 1, ids.last, ids.last + 1000, 0, 1]) {
            if (id < first && id <= 0) continue;
            expect(rangeOf(plan, id)).toHaveLength(1);
          }
          expect(plan.at(-1)?.throughId).toBeNull();
          expect(plan[0].afterId).toBeLessThan(first);
          plan.slice(1).forEach((range, index) => expect(range.afterId).toBe(plan[index].throughId));
        },
      ),
    );
  });
});
