import { randomBytes } from 'node:crypto';
import { EnvelopeService } from '../crypto/envelope.service';
import { KeyRing } from '../crypto/key-ring';
import { ResealFailedError } from './reseal-failed.error';
import { InThreadSealer, ResealPool } from './reseal-pool';
import type { CandidateRow, RowCrypto } from './reseal-row';
import { ENVELOPE_SEPARATOR } from './sealed-batch';

const [keyA, keyB] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
const previous = new EnvelopeService(KeyRing.fromSettings({ primary: keyA }));
const ring = KeyRing.fromSettings({ primary: keyB, previous: keyA });
const current = new EnvelopeService(ring);
const crypto: RowCrypto = {
  inspect: (stored) => current.inspect(stored),
  reseal: (stored, accountId) => current.reseal(stored, accountId),
  openPlaintext: (row) => ({ access_token: row.accessToken as string }),
  seal: (accountId, tokens) => current.encryptJsonBlob(tokens, accountId),
};

function rows(count: number): CandidateRow[] {
  return Array.from({ length: count }, (_, index) => {
    const id = index + 1;
    const accessToken =
      id % 10 === 0 ? `plain-${id}` : previous.encryptJsonBlob({ access_token: `token-${id}` }, id % 10 === 7 ? id + 1 : id);
    return { id, version: id, accessToken, refreshToken: null, scopes: null, tokenExpiresAt: null, tokenKeyId: 'k' };
  });
}

/** Each written row opened with the primary key, by account. */
function opened(batch: Awaited<ReturnType<ResealPool['reseal']>>) {
  const envelopes = batch.accessTokens.split(ENVELOPE_SEPARATOR);
  return new Map(batch.ids.map((id, index) => [id, current.decryptJsonBlob(envelopes[index], id)]));
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
    const [threaded, inThread] = await Promise.all([pool.reseal(input), new InThreadSealer(crypto).reseal(input)]);
    expect(opened(threaded)).toEqual(opened(inThread));
    expect(opened(threaded).get(10)).toEqual({ access_token: 'plain-10' });
    expect(opened(threaded).get(11)).toEqual({ access_token: 'token-11' });
    expect(threaded.versions).toEqual(threaded.ids);
    expect(threaded.failures).toEqual(inThread.failures);
    expect(threaded.failures.map((failure) => failure.accountId)).toEqual([7, 17, 27, 37, 47]);
  });

  it('fails every batch once closed, rather than waiting for a thread that is gone', async () => {
    pool = new ResealPool(ring, 1, crypto);
    await pool.close();
    await expect(pool.reseal(rows(3))).rejects.toThrow(ResealFailedError);
  });
});
