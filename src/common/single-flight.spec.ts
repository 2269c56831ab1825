import { SingleFlight } from './single-flight';

describe('SingleFlight', () => {
  it('runs the work once for callers that ask while it runs, and again afterwards', async () => {
    const flights = new SingleFlight<number, number>();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const work = async () => {
      runs += 1;
      await gate;
      return runs;
    };
    const callers = Array.from({ length: 10 }, () => flights.run(1, work));
    release();
    expect(await Promise.all(callers)).toEqual(Array(10).fill(1));
    expect(flights.size).toBe(0);
    expect(await flights.run(1, work)).toBe(2);
  });

  it('shares a failure with every waiting caller, then forgets it', async () => {
    const flights = new SingleFlight<string, number>();
    const failing = () => Promise.reject(new Error('down'));
    const results = await Promise.allSettled([flights.run('a', failing), flights.run('a', failing)]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(await flights.run('a', () => Promise.resolve(7))).toBe(7);
  });

  it('drains: waits for the work in flight to end', async () => {
    const flights = new SingleFlight<string, number>();
    let ended = false;
    void flights.run('a', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      ended = true;
      return 1;
    });
    await flights.drain();
    expect(ended).toBe(true);
  });
});
