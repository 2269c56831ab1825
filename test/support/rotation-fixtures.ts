import { createSecretKey, randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { ExternalAccountsService } from '../../src/connectors/external-accounts.service';
import type { TokenSet } from '../../src/connectors/token-set';
import { keyIdOf } from '../../src/crypto/key-ring';
import { KeyUsageService } from '../../src/key-lifecycle/key-usage.service';
import type { RotationJobView } from '../../src/rotation/rotation-job.view';
import { RotationService } from '../../src/rotation/rotation.service';
import { RotationWorker } from '../../src/rotation/rotation.worker';
import { createTestApp, truncateAll, type TestApp, type TestEnv } from '../create-app';
import { legacyV1Envelope } from './legacy-envelope';
import { poll, storedRows } from './fixtures';
import { insertSealedAccounts } from './safety-fixtures';

/** A fresh key, made in the test: never a committed secret. */
export interface TestKey {
  key: string;
  kid: string;
}

export function newKey(): TestKey {
  const key = randomBytes(32).toString('base64');
  return { key, kid: keyIdOf(createSecretKey(Buffer.from(key, 'base64'))) };
}

/** Settings of an instance with `primary` as its key and `previous` kept for decryption. */
export function keyEnv(primary: TestKey | undefined, previous: TestKey[] = [], extra: TestEnv = {}): TestEnv {
  return {
    WORKFLOWS_ARTIFACT_ENC_KEY: primary?.key,
    WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS:
      previous.length > 0 ? previous.map((entry) => entry.key).join(',') : undefined,
    ROTATION_WORKER_ENABLED: 'false',
    ROTATION_POLL_SECONDS: '1',
    ...extra,
  };
}

export interface RotationApp extends TestApp {
  accounts: ExternalAccountsService;
  rotation: RotationService;
  worker: RotationWorker;
  keyUsage: KeyUsageService;
}

export async function createRotationApp(env: TestEnv): Promise<RotationApp> {
  const testApp = await createTestApp(env);
  return {
    ...testApp,
    accounts: testApp.app.get(ExternalAccountsService),
    rotation: testApp.app.get(RotationService),
    worker: testApp.app.get(RotationWorker),
    keyUsage: testApp.app.get(KeyUsageService),
  };
}

export type ExpectedTokens = Map<number, TokenSet>;

export function tokensFor(label: string, index: number): TokenSet {
  return {
    access_token: `${label}-access-${index}-${randomBytes(6).toString('hex')}`,
    refresh_token: `${label}-refresh-${index}`,
  };
}

/** Accounts created through the service, so they are sealed with the app's primary key. */
export async function createSealedAccounts(
  app: RotationApp,
  count: number,
  expected: ExpectedTokens,
  parallel = 1,
) {
  for (let start = 0; start < count; start += parallel) {
    const size = Math.min(parallel, count - start);
    const created = await Promise.all(
      Array.from({ length: size }, async (_, offset) => {
        const tokens = { ...tokensFor('sealed', start + offset), token_type: 'Bearer' };
        const account = await app.accounts.createAccount(1 + ((start + offset) % 50), 'google_drive', tokens);
        return [account.id, tokens] as const;
      }),
    );
    for (const [id, tokens] of created) expected.set(id, tokens);
  }
}

/** Rows as the Python service left them, written with SQL: legacy v1 envelopes under `key`. */
export async function insertLegacyRows(
  dataSource: DataSource,
  key: TestKey,
  count: number,
  expected: ExpectedTokens,
) {
  const tokens = Array.from({ length: count }, (_, index) => ({
    ...tokensFor('legacy', index),
    token_type: 'Bearer',
  }));
  const rows: { id: number }[] = await dataSource.query(
    `INSERT INTO external_accounts (user_id, provider, access_token, refresh_token)
     SELECT 7, 'notion', envelope, NULL FROM unnest($1::text[]) WITH ORDINALITY AS t(envelope, n)
     ORDER BY n RETURNING id`,
    [tokens.map((set) => legacyV1Envelope(Buffer.from(key.key, 'base64'), set))],
  );
  rows.forEach((row, index) => expected.set(row.id, tokens[index]));
}

/** Plaintext rows (no key configured when they were written): tokens in their own columns. */
export async function insertPlaintextRows(dataSource: DataSource, count: number, expected: ExpectedTokens) {
  const tokens = Array.from({ length: count }, (_, index) => ({
    ...tokensFor('plain', index),
    scope: 'files.read',
  }));
  const rows: { id: number }[] = await dataSource.query(
    `INSERT INTO external_accounts (user_id, provider, access_token, refresh_token, scopes)
     SELECT 9, 'zotero', access, refresh, 'files.read'
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(access, refresh, n) ORDER BY n RETURNING id`,
    [tokens.map((set) => set.access_token), tokens.map((set) => set.refresh_token)],
  );
  rows.forEach((row, index) => expected.set(row.id, tokens[index]));
}

export interface SeedCounts {
  sealed: number;
  legacy?: number;
  plaintext?: number;
}

/**
 * Empties the database, then writes accounts sealed under `key` (sealed in the test and written in
 * bulk, bound to their rows as the service binds them), legacy v1 rows under `key` and plaintext
 * rows. Returns the tokens of each account.
 */
export async function seedAccounts(
  key: TestKey,
  counts: SeedCounts,
  extra: TestEnv = {},
): Promise<ExpectedTokens> {
  const app = await createRotationApp(keyEnv(key, [], extra));
  try {
    await truncateAll(app.dataSource);
    const expected: ExpectedTokens = new Map();
    const sealed = Array.from({ length: counts.sealed }, (_, index) => ({
      ...tokensFor('sealed', index),
      token_type: 'Bearer',
    }));
    const seeded = await insertSealedAccounts(app.dataSource, key, sealed, (index) => 1 + (index % 50));
    for (const account of seeded) expected.set(account.id, account.tokens);
    await insertLegacyRows(app.dataSource, key, counts.legacy ?? 0, expected);
    await insertPlaintextRows(app.dataSource, counts.plaintext ?? 0, expected);
    return expected;
  } finally {
    await app.close();
  }
}

export async function setToken(dataSource: DataSource, id: number, accessToken: string) {
  await dataSource.query(`UPDATE external_accounts SET access_token = $2 WHERE id = $1`, [id, accessToken]);
}

/** The same envelope with one ciphertext byte flipped: authentication must fail. */
export function tamperedEnvelope(envelope: string): string {
  const parsed = JSON.parse(envelope) as { ct: string };
  const ct = Buffer.from(parsed.ct, 'base64');
  ct[0] ^= 0x01;
  return JSON.stringify({ ...parsed, ct: ct.toString('base64') });
}

/** Reads every account's tokens through the service and compares them with what was written. */
export async function expectTokens(app: RotationApp, expected: ExpectedTokens): Promise<void> {
  const rows = await storedRows(app.dataSource);
  for (const row of rows) {
    const tokens = await app.accounts.getAccountTokens(row.user_id, row.id);
    expect({ id: row.id, ...tokens }).toMatchObject({ id: row.id, ...expected.get(row.id) });
  }
  expect(rows).toHaveLength(expected.size);
}

export async function waitForStatus(
  rotation: RotationService,
  id: number,
  statuses: string[],
): Promise<RotationJobView> {
  return poll(async () => {
    const view = await rotation.getJob(id);
    return statuses.includes(view.status) ? view : undefined;
  }, 60_000);
}

/**
 * Holds a rotation job at its next batch: each batch locks its partition's row FOR UPDATE, which
 * a KEY SHARE lock blocks, while a claim (an UPDATE of other columns) still gets through and
 * finds the leases as they are. Resolves once held (after the batches in flight, if any, have
 * committed).
 */
export async function holdRotationJob(dataSource: DataSource, jobId: number): Promise<() => Promise<void>> {
  const barrier = dataSource.createQueryRunner();
  await barrier.startTransaction();
  await barrier.query(`SELECT part FROM key_rotation_partitions WHERE job_id = $1 FOR KEY SHARE`, [jobId]);
  return async () => {
    await barrier.commitTransaction();
    await barrier.release();
  };
}

/**
 * Sets the leases held on a job's open partitions to end `seconds` from now by the database's
 * clock (negative: ended).
 */
export async function setLease(dataSource: DataSource, jobId: number, seconds: number): Promise<void> {
  await dataSource.query(
    `UPDATE key_rotation_partitions SET lease_expires_at = now() + make_interval(secs => $2)
      WHERE job_id = $1 AND lease_owner IS NOT NULL AND NOT done`,
    [jobId, seconds],
  );
}
