import { Pacer } from './pacer';

describe('Pacer', () => {
  function fakeClock() {
    let now = 1_000_000;
    const waits: number[] = [];
    const wait = async (ms: number) => {
      waits.push(ms);
      now += ms;
    };
    return { now: () => now, advance: (ms: number) => (now += ms), wait, waits };
  }

  it('lets the first call through at once and spaces the next ones by the interval', async () => {
    const clock = fakeClock();
    const pacer = new Pacer(100, clock.now, clock.wait);
    for (let call = 0; call < 4; call += 1) await pacer.take();
    expect(clock.waits).toEqual([100, 100, 100]);
  });

  it('does not wait when the calls are slower than the interval, and saves no burst for later', async () => {
    const clock = fakeClock();
    const pacer = new Pacer(100, clock.now, clock.wait);
    await pacer.take();
    clock.advance(1_000);
    await pacer.take();
    await pacer.take();
    expect(clock.waits).toEqual([100]);
  });

  it('gives concurrent callers successive slots', async () => {
    const clock = fakeClock();
    const waits: number[] = [];
    const pacer = new Pacer(50, clock.now, async (ms) => {
      waits.push(ms);
    });
    await Promise.all([pacer.take(), pacer.take(), pacer.take()]);
    expect(waits).toEqual([50, 100]);
    expect(clock.waits).toEqual([]);
  });

  it('allows at most N calls in a minute with perMinute(N)', async () => {
    const pacer = Pacer.perMinute(600);
    const started = Date.now();
    await pacer.take();
    await pacer.take();
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });
});
