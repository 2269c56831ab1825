import { setImmediate } from 'node:timers/promises';
import {
  createRotationApp,
  expectTokens,
  keyEnv,
  newKey,
  seedAccounts,
  setToken,
  tamperedEnvelope,
  tokensFor,
  type RotationApp,
  type TestKey,
} from './support/rotation-fixtures';
import type { TestEnv } from './create-app';
import { storedRows } from './support/fixtures';

describe('key rotation', () => {
  const keyA = newKey();
  const keyB = newKey();
  let app: RotationApp | undefined;

  async function open(primary: TestKey, previous: TestKey[] = [], extra: TestEnv = {}): Promise<RotationApp> {
    app = await createRotationApp(keyEnv(primary, previous, extra));
    return app;
  }

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('moves v3, legacy v1 and plaintext accounts from key A to key B, every token intact', async () => {
    const expected = await seedAccounts(keyA, { sealed: 2000, legacy: 500, plaintext: 500 });
    const { rotation, worker, dataSource, keyUsage } = await open(keyB, [keyA]);
    const before = await keyUsage.inventory();
    expect(before).toMatchObject({ primaryKeyId: keyB.kid, legacyV1Accounts: 500, plaintextAccounts: 500 });
    expect(before.keys).toEqual([
      { keyId: keyB.kid, role: 'primary', accounts: 0, v2Accounts: 0, safeToRetire: null },
      { keyId: keyA.kid, role: 'previous', accounts: 2000, v2Accounts: 0, safeToRetire: false },
    ]);
    const versionsBefore = (await storedRows(dataSource)).map((row) => [row.id, row.version]);

    const started = await rotation.startRotation({ batchSize: 250, requestedBy: 'test' });
    expect(started).toMatchObject({ status: 'pending', totalEstimate: 3000, targetKeyId: keyB.kid });
    const final = await worker.runJob(started.id);

    expect(final).toMatchObject({
      status: 'completed',
      pass: 1,
      scanned: 3000,
      rotated: 3000,
      skipped: 0,
      failed: 0,
    });
    expect(final).toMatchObject({ progressPercent: 100, etaSeconds: 0, failures: [], leaseOwner: null });
    const rows = await storedRows(dataSource);
    expect(rows.every((row) => row.token_key_id === keyB.kid && row.refresh_token === null)).toBe(true);
    expect(rows.map((row) => [row.id, row.version])).toEqual(versionsBefore);
    const after = await keyUsage.inventory();
    expect(after.keys).toEqual([
      { keyId: keyB.kid, role: 'primary', accounts: 3000, v2Accounts: 0, safeToRetire: null },
      { keyId: keyA.kid, role: 'previous', accounts: 0, v2Accounts: 0, safeToRetire: true },
    ]);
    expect(after).toMatchObject({ legacyV1Accounts: 0, plaintextAccounts: 0, accountsToRotate: 0 });

    await app!.close();
    await expectTokens(await open(keyB), expected);
  });

  it('keeps the version callers hold for If-Match valid across a rotation', async () => {
    const expected = await seedAccounts(keyA, { sealed: 3 });
    const { rotation, worker, accounts, dataSource } = await open(keyB, [keyA]);
    const [row] = await storedRows(dataSource);
    await worker.runJob((await rotation.startRotation({ requestedBy: 'test' })).id);
    const updated = await accounts.updateAccountTokens(
      row.user_id,
      row.id,
      { access_token: 'after' },
      row.version,
    );
    expect(updated.version).toBe(row.version + 1);
    expect(await accounts.getAccountTokens(row.user_id, row.id)).toMatchObject({
      access_token: 'after',
      refresh_token: expected.get(row.id)?.refresh_token,
    });
  });

  it('never overwrites tokens written while the rotation runs', async () => {
    const expected = await seedAccounts(keyA, { sealed: 600 });
    const { rotation, worker, accounts, dataSource } = await open(keyB, [keyA]);
    const rows = await storedRows(dataSource);
    const job = await rotation.startRotation({ batchSize: 25, requestedBy: 'test' });
    let cursor = 0;
    let running = true;
    const writer = (async () => {
      let writes = 0;
      while (running) {
        // Writers are requests, which wait on I/O; on the embedded database this loop would not
        // otherwise let the event loop turn, and the rotation lets it turn once per batch.
        await setImmediate();
        // Aim just past the cursor: the rows the next batch is reading.
        const ahead = rows.filter((row) => row.id > cursor).slice(0, 40);
        const target = ahead[writes % Math.max(ahead.length, 1)] ?? rows[writes % rows.length];
        const tokens = tokensFor('updated', writes);
        await accounts.updateAccountTokens(target.user_id, target.id, tokens);
        expected.set(target.id, tokens);
        writes += 1;
      }
      return writes;
    })();
    const final = await worker
      .runJob(job.id, { onProgress: (view) => void (cursor = view.cursor) })
      .finally(() => (running = false));

    expect(await writer).toBeGreaterThan(0);
    expect(final).toMatchObject({ status: 'completed', failed: 0 });
    expect(final.skipped).toBeGreaterThan(0);
    expect(final.rotated + final.skipped).toBe(final.scanned);
    expect((await storedRows(dataSource)).every((row) => row.token_key_id === keyB.kid)).toBe(true);
    await expectTokens(app!, expected);
  });

  it('writes nothing in a dry run and counts what would be rotated or fail', async () => {
    await seedAccounts(keyA, { sealed: 60, legacy: 20, plaintext: 20 });
    const { rotation, worker, dataSource } = await open(keyB, [keyA]);
    const [first, second] = await storedRows(dataSource);
    await setToken(dataSource, first.id, tamperedEnvelope(first.access_token as string));
    await setToken(dataSource, second.id, '{"_enc":"aesgcm:v9"}');
    const before = await storedRows(dataSource);

    const job = await rotation.startRotation({ dryRun: true, requestedBy: 'test' });
    const final = await worker.runJob(job.id);

    expect(final).toMatchObject({ status: 'completed_with_errors', dryRun: true, pass: 1, scanned: 100 });
    expect(final).toMatchObject({ rotated: 98, failed: 2 });
    expect(final.failures).toEqual([
      { accountId: first.id, reason: 'ENVELOPE_AUTH_FAILED' },
      { accountId: second.id, reason: 'ENVELOPE_UNSUPPORTED_FORMAT' },
    ]);
    expect(await storedRows(dataSource)).toEqual(before);
  });

  it('records unreadable accounts, skips them, and counts them once across passes', async () => {
    const expected = await seedAccounts(keyA, { sealed: 120 });
    const { rotation, worker, dataSource } = await open(keyB, [keyA]);
    const rows = await storedRows(dataSource);
    const envelope = (index: number) => rows[index].access_token as string;
    const unknown = newKey();
    await setToken(dataSource, rows[30].id, tamperedEnvelope(envelope(30)));
    await setToken(dataSource, rows[40].id, envelope(40).replace(keyA.kid, unknown.kid));
    await setToken(dataSource, rows[50].id, '{"_enc":"aesgcm:v2","kid":"not-hex"}');
    await setToken(dataSource, rows[60].id, envelope(61));
    await setToken(dataSource, rows[70].id, '{"_enc":"aesgcm:v9"}');

    const job = await rotation.startRotation({ batchSize: 20, requestedBy: 'test' });
    let rewritten = false;
    const final = await worker.runJob(job.id, {
      // An instance still on key A rewrites an account the first batch has just rotated.
      onProgress: async () => {
        if (rewritten) return;
        rewritten = true;
        await dataSource.query(
          `UPDATE external_accounts SET access_token = $2, version = version + 1 WHERE id = $1`,
          [rows[5].id, envelope(5)],
        );
      },
    });

    expect(final).toMatchObject({ status: 'completed_with_errors', pass: 2, failed: 5, rotated: 116 });
    expect(final.failures).toEqual([
      { accountId: rows[30].id, reason: 'ENVELOPE_AUTH_FAILED' },
      { accountId: rows[40].id, reason: 'ENVELOPE_UNKNOWN_KEY' },
      { accountId: rows[50].id, reason: 'ENVELOPE_MALFORMED' },
      { accountId: rows[60].id, reason: 'ENVELOPE_AUTH_FAILED' },
      { accountId: rows[70].id, reason: 'ENVELOPE_UNSUPPORTED_FORMAT' },
    ]);
    expect(await rotation.listFailures(final.id)).toEqual(final.failures);
    const after = await storedRows(dataSource);
    expect(after.filter((row) => row.token_key_id !== keyB.kid).map((row) => row.id)).toEqual(
      [30, 40, 50, 60, 70].map((index) => rows[index].id),
    );
    const { user_id: userId, id } = rows[5];
    expect(await app!.accounts.getAccountTokens(userId, id)).toMatchObject(expected.get(id)!);
  });

  it('refuses a v3 account with a refresh token in its own column rather than clear that column', async () => {
    const expected = await seedAccounts(keyA, { sealed: 40 });
    const { rotation, worker, dataSource } = await open(keyB, [keyA]);
    const rows = await storedRows(dataSource);
    const outside = rows[17];
    await dataSource.query(`UPDATE external_accounts SET refresh_token = $2 WHERE id = $1`, [
      outside.id,
      '1//outside',
    ]);
    const [before] = (await storedRows(dataSource)).filter((row) => row.id === outside.id);

    const final = await worker.runJob((await rotation.startRotation({ requestedBy: 'test' })).id);

    expect(final).toMatchObject({ status: 'completed_with_errors', rotated: 39, failed: 1 });
    expect(final.failures).toEqual([{ accountId: outside.id, reason: 'REFRESH_TOKEN_OUTSIDE_ENVELOPE' }]);
    const after = await storedRows(dataSource);
    expect(after.find((row) => row.id === outside.id)).toEqual(before);
    for (const row of after.filter((stored) => stored.id !== outside.id)) {
      expect(row.token_key_id).toBe(keyB.kid);
      expect(await app!.accounts.getAccountTokens(row.user_id, row.id)).toMatchObject(expected.get(row.id)!);
    }
  });

  it('refuses plaintext accounts when encryption is required, and reports them', async () => {
    await seedAccounts(keyA, { sealed: 10, plaintext: 3 });
    const { rotation, worker, dataSource } = await open(keyB, [keyA], {
      CONNECTORS_REQUIRE_TOKEN_ENCRYPTION: 'true',
    });
    const final = await worker.runJob((await rotation.startRotation({ requestedBy: 'test' })).id);

    expect(final).toMatchObject({ status: 'completed_with_errors', rotated: 10, failed: 3 });
    expect(final.failures.map((failure) => failure.reason)).toEqual(
      Array(3).fill('PLAINTEXT_TOKENS_REFUSED'),
    );
    const plaintext = (await storedRows(dataSource)).filter((row) => row.token_key_id === 'plaintext');
    expect(plaintext.map((row) => row.id)).toEqual(final.failures.map((failure) => failure.accountId));
  });
});
