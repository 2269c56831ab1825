import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { ENVELOPE_SEPARATOR } from '../connectors/token-columns';
import { EnvelopeService } from '../crypto/envelope.service';
import { KeyRing, keyIdOf } from '../crypto/key-ring';
import { ResealFailedError } from './rotation.errors';
import { InThreadSealer, ResealPool } from './reseal-pool';
import type { CandidateRow, RowCrypto } from './reseal-row';

const [keyA, keyB] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
const previous = new EnvelopeService(KeyRing.fromSettings({ primary: keyA }));
const ring = KeyRing.fromSettings({ primary: keyB, previous: keyA });
const current = new EnvelopeService(ring);
const crypto: RowCrypto = {
  inspect: (stored) => current.inspect(stored),
  reseal: (stored, binding) => current.reseal(stored, binding),
  openPlaintext: (row) => ({ access_token: row.accessToken as string }),
  seal: (binding, tokens) => current.encryptJsonBlob(tokens, binding),
};

/** Users differ from row to row, so a thread that lost a row's user id could not pass. */
const userOf = (id: number): number => 100 + (id % 4);

/** A v2 envelope under key A, as earlier versions wrote it: bound to the account only. */
function v2(accountId: number, tokens: object): string {
  const key = Buffer.from(keyA, 'base64');
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(`connectors-backend/external_accounts\x00aesgcm:v2\x00${accountId}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
  const b64 = (bytes: Buffer): string => bytes.toString('base64');
  const kid = keyIdOf(createSecretKey(key));
  return `{"_enc":"aesgcm:v2","kid":"${kid}","nonce":"${b64(nonce)}","ct":"${b64(ct)}","tag":"${b64(cipher.getAuthTag())}"}`;
}

/** Plaintext rows at ids ending in 0, v2 rows at 5, envelopes bound to the wrong account at 7 and the wrong user at 3. */
function rows(count: number): CandidateRow[] {
  return Array.from({ length: count }, (_, index) => {
    const id = index + 1;
    const tokens = { access_token: `token-${id}` };
    const userId = userOf(id);
    let accessToken: string;
    if (id % 10 === 0) accessToken = `plain-${id}`;
    else if (id % 10 === 5) accessToken = v2(id, tokens);
    else if (id % 10 === 7) accessToken = previous.encryptJsonBlob(tokens, { userId, accountId: id + 1 });
    else if (id % 10 === 3)
      accessToken = previous.encryptJsonBlob(tokens, { userId: userId + 1, accountId: id });
    else accessToken = previous.encryptJsonBlob(tokens, { userId, accountId: id });
    return {
      id,
      userId,
      version: id,
      accessToken,
      refreshToken: null,
      scopes: null,
      tokenExpiresAt: null,
      tokenKeyId: 'k',
    };
  });
}

/** Each written row opened with the primary key, by account, bound to the account's user. */
function opened(batch: Awaited<ReturnType<ResealPool['reseal']>>) {
  const envelopes = batch.accessTokens.split(ENVELOPE_SEPARATOR);
  for (const envelope of envelopes)
    expect(current.inspect(envelope)).toEqual({ format: 'v3', kid: current.primaryKeyId });
  return new Map(
    batch.ids.map((id, index) => [
      id,
      current.decryptJsonBlob(envelopes[index], { userId: userOf(id), accountId: id }),
    ]),
  );
}

describe('ResealPool', () => {
  let pool: ResealPool | undefined;

  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('re-seals in worker threads started from TypeScript what the calling thread would', async () => {
    pool = new ResealPool(ring, 2, crypto);
    const input = rows(50);
    const [threaded, inThread] = await Promise.all([
      pool.reseal(input),
      new InThreadSealer(crypto).reseal(input),
    ]);
    expect(opened(threaded)).toEqual(opened(inThread));
    expect(opened(threaded).get(10)).toEqual({ access_token: 'plain-10' });
    expect(opened(threaded).get(11)).toEqual({ access_token: 'token-11' });
    expect(opened(threaded).get(15)).toEqual({ access_token: 'token-15' });
    expect(threaded.versions).toEqual(threaded.ids);
    expect(threaded.failures).toEqual(inThread.failures);
    expect(threaded.failures.map((failure) => failure.accountId)).toEqual([
      3, 7, 13, 17, 23, 27, 33, 37, 43, 47,
    ]);
    expect(new Set(threaded.failures.map((failure) => failure.reason))).toEqual(
      new Set(['ENVELOPE_AUTH_FAILED']),
    );
  });

  it('fails every batch once closed, rather than waiting for a thread that is gone', async () => {
    pool = new ResealPool(ring, 1, crypto);
    await pool.close();
    await expect(pool.reseal(rows(3))).rejects.toThrow(ResealFailedError);
  });
});
