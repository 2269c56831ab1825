import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { EnvelopeService } from '../src/crypto/envelope.service';
import { KeyRing } from '../src/crypto/key-ring';

const CHUNK = 5000;
const TOKEN_BYTES = 150;

/** A typical provider token set; `random` holds at least 150 fresh bytes. */
export function benchTokenSet(id: number, random = randomBytes(TOKEN_BYTES)) {
  return {
    access_token: `ya29.${random.subarray(0, 90).toString('base64url')}`,
    refresh_token: `1//${random.subarray(90, 150).toString('base64url')}`,
    token_type: 'Bearer',
    expires_at: 1795904000 + id,
    scope: 'https://www.googleapis.com/auth/drive.readonly',
  };
}

/** One CSPRNG call per chunk: a call per row cost more than sealing the row. */
function sealChunk(envelopes: EnvelopeService, start: number, size: number) {
  const random = randomBytes(TOKEN_BYTES * size);
  const ids = Array.from({ length: size }, (_, i) => start + i);
  const sealed = ids.map((id, i) =>
    envelopes.encryptJsonBlob(benchTokenSet(id, random.subarray(i * TOKEN_BYTES)), {
      userId: id,
      accountId: id,
    }),
  );
  // Envelopes never hold a newline: one text parameter avoids quoting each element of a text[].
  return { ids, sealed: sealed.join('\n') };
}

/**
 * N accounts sealed under `key`, one unnest INSERT per chunk; the next chunk is sealed while the
 * database writes the previous one.
 */
export async function seedSealedAccounts(dataSource: DataSource, key: string, count: number): Promise<void> {
  const envelopes = new EnvelopeService(KeyRing.fromSettings({ primary: key }));
  let writing: Promise<unknown> = Promise.resolve();
  for (let start = 1; start <= count; start += CHUNK) {
    const { ids, sealed } = sealChunk(envelopes, start, Math.min(CHUNK, count - start + 1));
    await writing;
    writing = dataSource.query(
      `INSERT INTO external_accounts (id, user_id, provider, access_token)
       SELECT id, id, 'google_drive', a FROM unnest($1::int[], string_to_array($2, E'\\n')) AS t(id, a)`,
      [ids, sealed],
    );
    // Lets the driver send the INSERT before the next chunk's sealing takes the thread.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await writing;
  await dataSource.query(`SELECT setval(pg_get_serial_sequence('external_accounts', 'id'), $1)`, [count]);
  await dataSource.query(`VACUUM ANALYZE external_accounts`);
}
