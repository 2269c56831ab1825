import type { DataSource } from 'typeorm';

/** What the suites share: the PostgreSQL-only switch, rows as stored, and waiting on a condition. */

export const onPostgres = process.env.TEST_DATABASE_URL !== undefined;
export const describeIfPostgres = onPostgres ? describe : describe.skip;
export const itIfPostgres = onPostgres ? it : it.skip;
/**
 * Suites about the embedded database alone (its data directory, the default start): the
 * PostgreSQL pass would run the very same thing again.
 */
export const describeIfEmbedded = onPostgres ? describe.skip : describe;

export interface StoredAccountRow {
  id: number;
  user_id: number;
  access_token: string | null;
  refresh_token: string | null;
  token_key_id: string;
  version: number;
  updated_at: Date;
}

/** Every account row as the database holds it, in id order. */
export async function storedRows(dataSource: DataSource): Promise<StoredAccountRow[]> {
  return dataSource.query(
    `SELECT id, user_id, access_token, refresh_token, token_key_id, version, updated_at FROM external_accounts ORDER BY id`,
  );
}

/** Every column a token write touches, as stored: a refused write changes none of them. */
export async function tokenColumnsOf(dataSource: DataSource, id: number): Promise<{ version: number }> {
  const [row] = await dataSource.query(
    `SELECT access_token, refresh_token, token_key_id, scopes, token_expires_at, version, updated_at
       FROM external_accounts WHERE id = $1`,
    [id],
  );
  return row;
}

export async function countAccounts(dataSource: DataSource): Promise<number> {
  const [{ count }] = await dataSource.query(`SELECT count(*)::int AS count FROM external_accounts`);
  return count as number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every `everyMs` until it returns a value. */
export async function poll<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
