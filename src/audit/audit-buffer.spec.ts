import type { AuditRecord } from './admin-audit-event.entity';
import { AuditBuffer, DROPPED_ACTION } from './audit-buffer';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));

function event(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    action: 'GET /admin/rotations',
    outcome: 'allowed',
    statusCode: 200,
    actor: 'actor-a',
    clientAddress: '10.0.0.1',
    requestId: 'request-1',
    ...overrides,
  };
}

const refusal = (overrides: Partial<AuditRecord> = {}) =>
  event({ outcome: 'unauthorized', statusCode: 401, actor: null, ...overrides });

describe('AuditBuffer', () => {
  it('keeps every event that is not a refusal as its own row, oldest first', () => {
    const buffer = new AuditBuffer();
    expect(buffer.record(event({ requestId: 'first' }), at(1))).toBe(true);
    expect(buffer.record(event({ outcome: 'rejected', statusCode: 400, requestId: 'second' }), at(2))).toBe(
      true,
    );
    expect(buffer.take(10)).toEqual([
      { ...event({ requestId: 'first' }), occurredAt: at(1), lastOccurredAt: null, count: 1 },
      {
        ...event({ outcome: 'rejected', statusCode: 400, requestId: 'second' }),
        occurredAt: at(2),
        lastOccurredAt: null,
        count: 1,
      },
    ]);
    expect(buffer.empty).toBe(true);
  });

  it('counts refusals of one action, status and address in one row per window', () => {
    const buffer = new AuditBuffer();
    expect(buffer.record(refusal(), at(1))).toBe(false);
    buffer.record(refusal({ requestId: 'request-2' }), at(2));
    buffer.record(refusal({ requestId: 'request-3' }), at(3));
    buffer.record(refusal({ clientAddress: '10.0.0.2' }), at(4));
    expect(buffer.take(10)).toEqual([]);
    expect(buffer.closeWindow()).toBe(true);
    expect(buffer.take(10)).toEqual([
      { ...refusal(), occurredAt: at(1), lastOccurredAt: at(3), count: 3 },
      { ...refusal({ clientAddress: '10.0.0.2' }), occurredAt: at(4), lastOccurredAt: null, count: 1 },
    ]);
    expect(buffer.closeWindow()).toBe(false);
  });

  it('names the actor of a window only when every refusal in it presented the same one', () => {
    const buffer = new AuditBuffer();
    const forbidden = { outcome: 'forbidden', statusCode: 403 } as const;
    buffer.record(event({ ...forbidden, actor: 'same' }), at(1));
    buffer.record(event({ ...forbidden, actor: 'same' }), at(2));
    buffer.record(event({ ...forbidden, action: 'POST /admin/keys', actor: 'one' }), at(1));
    buffer.record(event({ ...forbidden, action: 'POST /admin/keys', actor: 'other' }), at(2));
    buffer.closeWindow();
    expect(buffer.take(10).map((row) => [row.action, row.actor])).toEqual([
      ['GET /admin/rotations', 'same'],
      ['POST /admin/keys', null],
    ]);
  });

  it('folds the refusals past 1 000 kinds in a window into one row per outcome', () => {
    const buffer = new AuditBuffer();
    for (let kind = 0; kind < 1_000; kind += 1) buffer.record(refusal({ action: `GET /x/${kind}` }), at(1));
    for (let extra = 0; extra < 5; extra += 1)
      buffer.record(refusal({ action: `GET /y/${extra}` }), at(2 + extra));
    buffer.record(refusal({ action: 'GET /x/7' }), at(9));
    buffer.record(event({ outcome: 'rate_limited', statusCode: 429, action: 'GET /z' }), at(9));
    buffer.closeWindow();
    const rows = buffer.take(2_000);
    expect(rows).toHaveLength(1_002);
    expect(rows.find((row) => row.action === 'GET /x/7')?.count).toBe(2);
    expect(rows.filter((row) => row.action === '*')).toEqual([
      {
        ...refusal({ action: '*', clientAddress: null, requestId: null }),
        occurredAt: at(2),
        lastOccurredAt: at(6),
        count: 5,
      },
      {
        ...event({
          outcome: 'rate_limited',
          statusCode: 429,
          action: '*',
          clientAddress: null,
          requestId: null,
        }),
        occurredAt: at(9),
        lastOccurredAt: null,
        count: 1,
      },
    ]);
  });

  it('drops events past 10 000 waiting rows and reports their number in a row once the rest is out', () => {
    const buffer = new AuditBuffer();
    for (let n = 0; n < 10_000; n += 1)
      expect(buffer.record(event({ requestId: `r${n}` }), at(1))).toBe(true);
    expect(buffer.record(event({ requestId: 'over-1' }), at(2))).toBe(false);
    expect(buffer.record(event({ requestId: 'over-2' }), at(2))).toBe(false);
    expect(buffer.waiting).toBe(10_000);
    const written = [...buffer.take(6_000), ...buffer.take(6_000)];
    expect(written.map((row) => row.requestId)).toEqual(Array.from({ length: 10_000 }, (_, n) => `r${n}`));
    expect(buffer.empty).toBe(false);
    expect(buffer.take(500, at(30))).toEqual([
      {
        action: DROPPED_ACTION,
        outcome: 'failed',
        statusCode: 503,
        count: 2,
        actor: null,
        clientAddress: null,
        requestId: null,
        occurredAt: at(30),
        lastOccurredAt: null,
      },
    ]);
    expect(buffer.empty).toBe(true);
    expect(buffer.take(500)).toEqual([]);
  });

  it('puts the rows of a failed write back ahead of the newer ones', () => {
    const buffer = new AuditBuffer();
    buffer.record(event({ requestId: 'a' }), at(1));
    buffer.record(event({ requestId: 'b' }), at(2));
    const failed = buffer.take(1);
    buffer.record(event({ requestId: 'c' }), at(3));
    buffer.putBack(failed);
    expect(buffer.take(10).map((row) => row.requestId)).toEqual(['a', 'b', 'c']);
  });

  it('keeps the count of a drop report whose write failed for the next report', () => {
    const buffer = new AuditBuffer({ maxBuckets: 1_000, maxPending: 1 });
    buffer.record(event({ requestId: 'a' }), at(1));
    buffer.record(event({ requestId: 'b' }), at(2));
    buffer.record(event({ requestId: 'c' }), at(3));
    expect(buffer.take(10).map((row) => row.requestId)).toEqual(['a']);
    const report = buffer.take(10);
    expect(report).toMatchObject([{ action: DROPPED_ACTION, count: 2 }]);
    buffer.putBack(report);
    buffer.record(event({ requestId: 'd' }), at(4));
    buffer.take(10);
    buffer.record(event({ requestId: 'e' }), at(5));
    buffer.record(event({ requestId: 'f' }), at(6));
    buffer.take(10);
    expect(buffer.take(10)).toMatchObject([{ action: DROPPED_ACTION, count: 3 }]);
    expect(buffer.empty).toBe(true);
  });
});
