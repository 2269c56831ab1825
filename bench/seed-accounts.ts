import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { EnvelopeService } from '../src/crypto/envelope.service';
import { KeyRing } from '../src/crypto/key-ring';

const CHUNK = 5000;

export function benchTokenSet(id: number) {
  return {
    access_token: `ya29.${randomBytes(90).toString('base64url')}`,
    refresh_token: `1//${randomBytes(60).toString('base64url')}`,
    token_type: 'Bearer',
    expires_at: 1795904000 + id,
    scope: 'https://www.googleapis.com/auth/drive.readonly',
  };
}

/** N accounts sealed under `key`, written in chunks with one unnest INSERT each. */
export async function seedSealedAccounts(dataSource: DataSource, key: string, count: number): Promise<void> {
  const envelopes = new EnvelopeService(KeyRing.fromSettings({ primary: key }));
  const kid = envelopes.primaryKeyId as string;
  for (let start = 1; start <= count; start += CHUNK) {
    const ids = Array.from({ length: Math.min(CHUNK, count - start + 1) }, (_, i) => start + i);
    const sealed = ids.map((id) => envelopes.encryptJsonBlob(benchTokenSet(id), id));
    await dataSource.query(
      `INSERT INTO external_accounts (id, user_id, provider, access_token, token_key_id)
       SELECT id, id, 'google_drive', a, $3 FROM unnest($1::int[], $2::text[]) AS t(id, a)`,
      [ids, sealed, kid],
    );
  }
  await dataSource.query(`SELECT setval(pg_get_serial_sequence('external_accounts', 'id'), $1)`, [count]);
  await dataSource.query(`VACUUM ANALYZE external_accounts`);
}
