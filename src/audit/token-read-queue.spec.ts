import { TokenReadQueue } from './token-read-queue';
import type { TokenReadRow } from './token-read.entity';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);
const start = at(0).getTime();

function read(requestId: string, ms = 0): TokenReadRow {
  return {
    occurredAt: at(ms),
    caller: 'sync-worker',
    userId: 1,
    accountId: 2,
    provider: 'notion',
    route: 'GET /users/:userId/accounts/:id/tokens',
    outcome: 'served',
    code: null,
    requestId,
  };
}

describe('TokenReadQueue', () => {
  it('keeps a reserved slot for a read in progress, so its record always fits', () => {
    const queue = new TokenReadQueue(2);
    expect(queue.reserve()).toBe(true);
    expect(queue.push(read('a'))).toBe(true);
    expect(queue.full).toBe(true);
    expect(queue.reserve()).toBe(false);
    expect(queue.push(read('refused'))).toBe(false);
    queue.fill(read('b'));
    expect(queue.take(10).map((row) => row.requestId)).toEqual(['a', 'b']);
    expect(queue.takeDropped()).toBe(1);
    expect(queue.takeDropped()).toBe(0);
  });

  it('measures the lag from the oldest record not yet written, the one being written included', () => {
    const queue = new TokenReadQueue(10);
    expect(queue.lagMs(start + 5_000)).toBe(0);
    queue.push(read('a', 1_000));
    queue.push(read('b', 2_000));
    expect(queue.lagMs(start + 5_000)).toBe(4_000);
    queue.take(1);
    expect(queue.ready).toBe(false);
    expect(queue.lagMs(start + 5_000)).toBe(4_000);
    queue.written();
    expect(queue.lagMs(start + 5_000)).toBe(3_000);
    expect(queue.ready).toBe(true);
  });

  it('puts a failed write back ahead of newer records, still counted against the cap', () => {
    const queue = new TokenReadQueue(3);
    queue.push(read('a'));
    queue.push(read('b'));
    queue.take(2);
    queue.push(read('c'));
    expect(queue.depth).toBe(3);
    expect(queue.push(read('d'))).toBe(false);
    queue.failed();
    expect(queue.take(10).map((row) => row.requestId)).toEqual(['a', 'b', 'c']);
    queue.written();
    expect(queue.empty).toBe(true);
    expect(queue.depth).toBe(0);
  });
});
