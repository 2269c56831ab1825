import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { TokenSet } from '../../src/connectors/token-set';
import { EnvelopeService } from '../../src/crypto/envelope.service';
import { KeyRing } from '../../src/crypto/key-ring';
import type { TestKey } from './rotation-fixtures';
import type { StoredAccountRow } from './fixtures';

/** A random secret of `bytes` bytes, base64url: the shape of API tokens and OAuth tokens. */
export function randomSecret(prefix = '', bytes = 24): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}

/**
 * A realistic token set whose values are random, so finding one in any output is a leak: an
 * OpenID id_token and a provider's extra secret field included, as connectors store them.
 */
export function randomTokens(): TokenSet & { refresh_token: string; id_token: string; bot_secret: string } {
  return {
    access_token: randomSecret('ya29.'),
    refresh_token: randomSecret('1//'),
    token_type: 'Bearer',
    expires_in: 3599,
    scope: 'drive.readonly',
    id_token: randomSecret('eyJ', 48),
    bot_secret: randomSecret('xoxb-'),
  };
}

/** The envelope service of a key ring holding only `key`: seals in the test, as the service would. */
export function sealerFor(key: TestKey): EnvelopeService {
  return new EnvelopeService(KeyRing.fromSettings({ primary: key.key }));
}

/** A pg client on the run's database, outside any app (PostgreSQL only). */
export async function directClient(): Promise<Client> {
  const client = new Client({ connectionString: process.env.E2E_DATABASE_URL });
  await client.connect();
  return client;
}

/** The run's database URL with a password in it: trust authentication ignores it, logs must too. */
export function urlWithPassword(databaseUrl: string, password: string): string {
  const url = new URL(databaseUrl);
  url.password = password;
  return url.toString();
}

export interface SeededAccount {
  id: number;
  userId: number;
  tokens: TokenSet;
}

/**
 * Accounts sealed under `key` in this process and written with chunked `unnest` INSERTs: ids come
 * from the table's sequence first, so each envelope is bound to its row as the service binds it.
 */
export async function insertSealedAccounts(
  dataSource: DataSource,
  key: TestKey,
  tokens: TokenSet[],
  userOf: (index: number) => number = (index) => 1 + (index % 100),
  chunk = 5000,
): Promise<SeededAccount[]> {
  const sealer = sealerFor(key);
  const seeded: SeededAccount[] = [];
  for (let start = 0; start < tokens.length; start += chunk) {
    const slice = tokens.slice(start, start + chunk);
    const ids: { id: number }[] = await dataSource.query(
      `SELECT nextval(pg_get_serial_sequence('external_accounts', 'id'))::int AS id FROM generate_series(1, $1::int)`,
      [slice.length],
    );
    const rows = slice.map((set, offset) => ({
      id: ids[offset].id,
      userId: userOf(start + offset),
      tokens: set,
    }));
    await dataSource.query(
      `INSERT INTO external_accounts (id, user_id, provider, access_token, refresh_token, version)
       SELECT id, user_id, 'google_drive', envelope, NULL, 1
         FROM unnest($1::int[], $2::int[], $3::text[]) AS t(id, user_id, envelope)`,
      [
        rows.map((row) => row.id),
        rows.map((row) => row.userId),
        rows.map((row) => sealer.encryptJsonBlob(row.tokens, { userId: row.userId, accountId: row.id })),
      ],
    );
    seeded.push(...rows);
  }
  return seeded;
}

/**
 * Opens every row with `key` alone, in the test: the rows that are not on that key, and those whose
 * plaintext differs from `expected`, by id. Empty lists mean every account is intact on `key`.
 */
export function verifyOnKey(rows: StoredAccountRow[], key: TestKey, expected: Map<number, TokenSet>) {
  const opener = sealerFor(key);
  const offKey: number[] = [];
  const wrong: number[] = [];
  for (const row of rows) {
    if (row.token_key_id !== key.kid || row.refresh_token !== null) {
      offKey.push(row.id);
      continue;
    }
    let tokens: TokenSet | undefined;
    try {
      tokens = opener.decryptJsonBlob<TokenSet>(row.access_token as string, {
        userId: row.user_id,
        accountId: row.id,
      });
    } catch {
      offKey.push(row.id);
      continue;
    }
    if (!matches(tokens, expected.get(row.id))) wrong.push(row.id);
  }
  return { offKey, wrong };
}

function matches(actual: TokenSet, expected: TokenSet | undefined): boolean {
  if (!expected) return false;
  return Object.entries(expected).every(([field, value]) => actual[field] === value);
}
