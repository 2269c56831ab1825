/** Helpers shared by the benchmarks: medians over alternating rounds, and the summary line. */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function formatNumber(value: number, digits = 2): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/**
 * Runs the project and its reference in turns, `rounds` times each, so drift on a noisy
 * machine hits both alike. Returns the per-round measurements of each.
 */
export async function alternate<T>(
  rounds: number,
  project: () => Promise<T> | T,
  reference: () => Promise<T> | T,
): Promise<{ project: T[]; reference: T[] }> {
  const result = { project: [] as T[], reference: [] as T[] };
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      result.project.push(await project());
      result.reference.push(await reference());
    } else {
      result.reference.push(await reference());
      result.project.push(await project());
    }
  }
  return result;
}

export function isQuick(): boolean {
  return process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
}

export function printTable(rows: Record<string, string | number>[]): void {
  console.table(rows);
}

/** Seconds `work` took, wall clock. */
export async function timedSeconds(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}
