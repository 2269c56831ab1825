import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { DomainError } from '../common/domain-error';
import { EnvelopeService } from '../crypto/envelope.service';
import { KeyRing } from '../crypto/key-ring';
import { resealEnvelopes, resealRows, type CandidateRow, type EnvelopeCrypto, type RowCrypto } from './reseal-row';

const [keyA, keyB] = [randomBytes(32), randomBytes(32)];
const previous = new EnvelopeService(KeyRing.fromSettings({ primary: keyA.toString('base64') }));
const current = new EnvelopeService(
  KeyRing.fromSettings({ primary: keyB.toString('base64'), previous: keyA.toString('base64') }),
);
const crypto: EnvelopeCrypto = {
  inspect: (stored) => current.inspect(stored),
  reseal: (stored, accountId) => current.reseal(stored, accountId),
};

function legacyV1(plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyA, nonce);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return JSON.stringify({ _enc: 'aesgcm:v1', nonce: nonce.toString('base64'), ct: ct.toString('base64'), tag: tag.toString('base64') });
}

const row = (id: number, accessToken: string | null): CandidateRow => ({
  id,
  version: 3,
  accessToken,
  refreshToken: null,
  scopes: null,
  tokenExpiresAt: null,
  tokenKeyId: 'any',
});

type Outcome = { bytes: string } | { reason: string } | 'plaintext';

/** What the rotation did before the v2 shortcut: inspect every row, then open or seal it. */
function inspectFirst(stored: string | null, id: number): Outcome {
  try {
    if (crypto.inspect(stored).format === 'plaintext') return 'plaintext';
    return { bytes: current.openBytes(crypto.reseal(stored as string, id), id).toString('utf8') };
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { reason: error.code };
  }
}

function shortcut(stored: string | null, id: number): Outcome {
  const batch = resealEnvelopes([row(id, stored)], crypto);
  if (batch.plaintext.length > 0) return 'plaintext';
  if (batch.failures.length > 0) return { reason: batch.failures[0].reason };
  return { bytes: current.openBytes(batch.resealed[0].accessToken, id).toString('utf8') };
}

/** A v2 envelope of account 7 under key A, with one character replaced somewhere. */
const damagedV2 = fc
  .tuple(fc.nat(), fc.constantFrom('"', '\\', '\n', '=', 'A', '{', 'é', '\u0000', '_'))
  .map(([at, character]) => {
    const envelope = previous.encryptJsonBlob({ access_token: 'a' }, 7);
    const index = at % envelope.length;
    return envelope.slice(0, index) + character + envelope.slice(index + 1);
  });

describe('resealEnvelopes', () => {
  it('opens and re-seals v2 and legacy v1 envelopes, and sets plaintext rows aside by position', () => {
    const rows = [row(1, previous.encryptJsonBlob({ access_token: 'one' }, 1)), row(2, 'plain-token'), row(3, legacyV1('{"access_token": "three"}'))];
    const batch = resealEnvelopes(rows, crypto);
    expect(batch.plaintext).toEqual([1]);
    expect(batch.failures).toEqual([]);
    expect(batch.resealed.map(({ id, version }) => ({ id, version }))).toEqual([
      { id: 1, version: 3 },
      { id: 3, version: 3 },
    ]);
    expect(current.decryptJsonBlob(batch.resealed[0].accessToken, 1)).toEqual({ access_token: 'one' });
    expect(current.openBytes(batch.resealed[1].accessToken, 3).toString()).toBe('{"access_token": "three"}');
    expect(current.inspect(batch.resealed[1].accessToken)).toEqual({ format: 'v2', kid: current.primaryKeyId });
  });

  it('records an envelope bound to another account as a failure, not a row to write', () => {
    const batch = resealEnvelopes([row(2, previous.encryptJsonBlob({ access_token: 'x' }, 1))], crypto);
    expect(batch).toEqual({ resealed: [], failures: [{ accountId: 2, reason: 'ENVELOPE_AUTH_FAILED' }], plaintext: [] });
  });

  it('tells envelopes, plaintext and damaged text apart exactly as inspecting every row first', () => {
    const stored = fc.oneof(damagedV2, fc.string(), fc.constant(null), fc.json());
    fc.assert(fc.property(stored, (text) => expect(shortcut(text, 7)).toEqual(inspectFirst(text, 7))), { numRuns: 500 });
  });
});

describe('resealRows', () => {
  it('seals plaintext rows with the token storage rules it is given', () => {
    const full: RowCrypto = {
      ...crypto,
      openPlaintext: (plain) => ({ access_token: plain.accessToken as string }),
      seal: (accountId, tokens) => current.encryptJsonBlob(tokens, accountId),
    };
    const batch = resealRows([row(4, 'plain-token')], full);
    expect(current.decryptJsonBlob(batch.resealed[0].accessToken, 4)).toEqual({ access_token: 'plain-token' });
  });
});
