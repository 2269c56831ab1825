/**
 * One piece of work per key in this process: callers that ask while it runs get the same
 * promise, and so the same result or the same error. Across instances the account's lease does
 * the same job.
 */
export class SingleFlight<K, V> {
  private readonly flights = new Map<K, Promise<V>>();

  run(key: K, work: () => Promise<V>): Promise<V> {
    const running = this.flights.get(key);
    if (running) return running;
    const flight = work().finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }

  get size(): number {
    return this.flights.size;
  }

  /** Resolves once every piece of work running now has ended, whatever its outcome. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.flights.values()]);
  }
}
