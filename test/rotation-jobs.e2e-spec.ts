import { Logger } from '@nestjs/common';
import type { DomainError } from '../src/common/domain-error';
import type { TestEnv } from './create-app';
import {
  createRotationApp,
  keyEnv,
  newKey,
  seedAccounts,
  setToken,
  waitForStatus,
  type RotationApp,
  type TestKey,
} from './support/rotation-fixtures';
import { storedRows } from './support/fixtures';

async function domainError(promise: Promise<unknown>): Promise<Pick<DomainError, 'code' | 'kind'>> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason as DomainError,
  );
  if (!error) throw new Error('expected a domain error');
  return { code: error.code, kind: error.kind };
}

describe('rotation jobs', () => {
  const keyA = newKey();
  const keyB = newKey();
  let app: RotationApp | undefined;

  async function open(primary: TestKey | undefined, previous: TestKey[] = [], extra: TestEnv = {}) {
    await app?.close();
    app = await createRotationApp(keyEnv(primary, previous, extra));
    return app;
  }

  afterEach(async () => {
    jest.restoreAllMocks();
    await app?.close();
    app = undefined;
  });

  it('refuses a second active job, bad requests and a missing primary key', async () => {
    await seedAccounts(keyA, { sealed: 2 });
    const { rotation } = await open(keyB, [keyA]);
    const first = await rotation.startRotation({ requestedBy: 'test' });
    expect(await domainError(rotation.startRotation({ requestedBy: 'test' }))).toEqual({
      code: 'ROTATION_ALREADY_ACTIVE',
      kind: 'conflict',
    });
    for (const batchSize of [0, 10001, 2.5]) {
      expect(await domainError(rotation.startRotation({ batchSize, requestedBy: 'test' }))).toEqual({
        code: 'ROTATION_INVALID_REQUEST',
        kind: 'invalid',
      });
    }
    expect((await domainError(rotation.startRotation({ requestedBy: ' ' }))).code).toBe(
      'ROTATION_INVALID_REQUEST',
    );
    expect(await rotation.findActiveJob()).toMatchObject({ id: first.id, status: 'pending' });

    const unkeyed = await open(undefined);
    expect(await domainError(unkeyed.rotation.startRotation({ requestedBy: 'test' }))).toEqual({
      code: 'ROTATION_PRIMARY_KEY_MISSING',
      kind: 'unavailable',
    });
    expect((await domainError(unkeyed.worker.runJob(first.id))).code).toBe('ROTATION_PRIMARY_KEY_MISSING');
  });

  it('cancels a pending job at once and a running one at the next batch boundary', async () => {
    await seedAccounts(keyA, { sealed: 100 });
    const { rotation, worker, dataSource } = await open(keyB, [keyA]);
    const pending = await rotation.startRotation({ requestedBy: 'test' });
    expect(await rotation.cancelJob(pending.id)).toMatchObject({ status: 'cancelled', scanned: 0 });
    expect(await domainError(rotation.cancelJob(pending.id))).toEqual({
      code: 'ROTATION_NOT_CANCELLABLE',
      kind: 'conflict',
    });

    const job = await rotation.startRotation({ batchSize: 10, requestedBy: 'test' });
    const statuses: string[] = [];
    const final = await worker.runJob(job.id, {
      onProgress: async (view) => {
        if (view.scanned === 10) statuses.push((await rotation.cancelJob(view.id)).status);
      },
    });

    expect(statuses).toEqual(['cancelling']);
    expect(final).toMatchObject({ status: 'cancelled', scanned: 10, rotated: 10, leaseOwner: null });
    expect((await storedRows(dataSource)).filter((row) => row.token_key_id === keyB.kid)).toHaveLength(10);
    expect((await rotation.listJobs(5)).map((view) => [view.id, view.status])).toEqual([
      [job.id, 'cancelled'],
      [pending.id, 'cancelled'],
    ]);
  });

  it('answers ROTATION_NOT_FOUND for a job that does not exist', async () => {
    const { rotation, worker } = await open(keyB);
    const calls = [
      () => rotation.getJob(424242),
      () => rotation.cancelJob(424242),
      () => worker.runJob(424242),
    ];
    for (const call of calls) {
      expect(await domainError(call())).toEqual({ code: 'ROTATION_NOT_FOUND', kind: 'not_found' });
    }
  });

  it('leaves a job to an instance whose primary key is its target', async () => {
    await seedAccounts(keyA, { sealed: 5 });
    const job = await (await open(keyB, [keyA])).rotation.startRotation({ requestedBy: 'test' });
    const other = await open(keyA, [], { ROTATION_WORKER_ENABLED: 'true' });
    expect((await domainError(other.worker.runJob(job.id))).code).toBe('ROTATION_TARGET_KEY_MISMATCH');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await other.rotation.getJob(job.id)).toMatchObject({ status: 'pending', leaseOwner: null });
  });

  it('runs a pending job in the background worker', async () => {
    await seedAccounts(keyA, { sealed: 40, legacy: 5, plaintext: 5 });
    const { rotation, keyUsage } = await open(keyB, [keyA], { ROTATION_WORKER_ENABLED: 'true' });
    const job = await rotation.startRotation({ batchSize: 7, requestedBy: 'test' });
    expect(await waitForStatus(rotation, job.id, ['completed'])).toMatchObject({ rotated: 50, failed: 0 });
    expect((await keyUsage.inventory()).accountsToRotate).toBe(0);
  });

  it('warns once at start-up, with the count, when accounts use a key no configured key has', async () => {
    await seedAccounts(keyA, { sealed: 3 });
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const { keyUsage } = await open(keyB);
    const warnings = warn.mock.calls
      .map(([message]) => String(message))
      .filter((text) => text.includes(keyA.kid));
    expect(warnings).toEqual([
      expect.stringMatching(/^3 accounts are sealed with key ids no configured key has/),
    ]);
    expect(warnings[0]).not.toContain(keyA.key);
    const inventory = await keyUsage.inventory();
    expect(inventory).toMatchObject({ unknownKeyAccounts: 3, accountsToRotate: 3 });
    expect(inventory.keys).toContainEqual({
      keyId: keyA.kid,
      role: 'unknown',
      accounts: 3,
      v2Accounts: 0,
      safeToRetire: null,
    });
  });

  it('does not call a previous key safe to retire while legacy v1 accounts remain', async () => {
    await seedAccounts(keyA, { sealed: 0, legacy: 1 });
    const { keyUsage, dataSource } = await open(keyB, [keyA]);
    const [row] = await storedRows(dataSource);
    expect((await keyUsage.inventory()).keys).toContainEqual(
      expect.objectContaining({ keyId: keyA.kid, safeToRetire: false }),
    );
    await setToken(dataSource, row.id, 'plain');
    expect((await keyUsage.inventory()).keys).toContainEqual(
      expect.objectContaining({ keyId: keyA.kid, safeToRetire: true }),
    );
  });
});
