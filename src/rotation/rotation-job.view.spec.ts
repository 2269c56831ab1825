import type { RotationJobRecord } from './key-rotation-job.entity';
import { toRotationJobView } from './rotation-job.view';

function job(overrides: Partial<RotationJobRecord>): RotationJobRecord {
  return {
    id: 1,
    status: 'running',
    dryRun: false,
    batchSize: 100,
    targetKeyId: 'aaaaaaaaaaaaaaaa',
    cursor: 0,
    pass: 1,
    totalEstimate: 1000,
    scanned: 0,
    rotated: 0,
    skipped: 0,
    failed: 0,
    failures: [],
    partitions: { total: 1, done: 0, workers: [] },
    leaseOwner: null,
    leaseExpiresAt: null,
    requestedBy: 'test',
    lastErrorCode: null,
    createdAt: new Date('2030-01-01T00:00:00Z'),
    startedAt: new Date('2030-01-01T00:00:00Z'),
    finishedAt: null,
    updatedAt: new Date('2030-01-01T00:00:10Z'),
    ...overrides,
  };
}

describe('toRotationJobView', () => {
  it('derives progress, rate and time left from the counts and the start time', () => {
    const view = toRotationJobView(job({ scanned: 250 }), new Date('2030-01-01T00:00:10Z'));
    expect(view).toMatchObject({ progressPercent: 25, rowsPerSecond: 25, etaSeconds: 30 });
  });

  it('has no rate before the job starts and no time left once it ended', () => {
    expect(toRotationJobView(job({ status: 'pending', startedAt: null }))).toMatchObject({
      rowsPerSecond: null,
      etaSeconds: null,
      progressPercent: 0,
    });
    const finished = job({
      status: 'completed',
      scanned: 1200,
      finishedAt: new Date('2030-01-01T00:00:04Z'),
    });
    expect(toRotationJobView(finished)).toMatchObject({
      progressPercent: 100,
      rowsPerSecond: 300,
      etaSeconds: 0,
    });
    expect(toRotationJobView(job({ status: 'completed', totalEstimate: 0 }))).toMatchObject({
      progressPercent: 100,
    });
  });
});
