import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { DomainError } from '../common/domain-error';
import { EnvelopeAuthFailedError } from '../crypto/envelope.errors';
import { EnvelopeService, type EnvelopeBinding } from '../crypto/envelope.service';
import { KeyRing, keyIdOf } from '../crypto/key-ring';
import {
  resealEnvelopes,
  resealRows,
  type CandidateRow,
  type EnvelopeCrypto,
  type RowCrypto,
} from './reseal-row';

const [keyA, keyB] = [randomBytes(32), randomBytes(32)];
const previous = new EnvelopeService(KeyRing.fromSettings({ primary: keyA.toString('base64') }));
const current = new EnvelopeService(
  KeyRing.fromSettings({ primary: keyB.toString('base64'), previous: keyA.toString('base64') }),
);
const crypto: EnvelopeCrypto = {
  inspect: (stored) => current.inspect(stored),
  reseal: (stored, binding) => current.reseal(stored, binding),
};

/** The user every row of these tests belongs to, unless a test says otherwise. */
const USER = 5;
const bound = (accountId: number, userId = USER): EnvelopeBinding => ({ userId, accountId });

function legacyV1(plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyA, nonce);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return JSON.stringify({
    _enc: 'aesgcm:v1',
    nonce: nonce.toString('base64'),
    ct: ct.toString('base64'),
    tag: tag.toString('base64'),
  });
}

/** A v2 envelope under key A, as earlier versions wrote it: bound to the account only. */
function v2(accountId: number, plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyA, nonce, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(`connectors-backend/external_accounts\x00aesgcm:v2\x00${accountId}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const kid = keyIdOf(createSecretKey(keyA));
  const b64 = (bytes: Buffer): string => bytes.toString('base64');
  return `{"_enc":"aesgcm:v2","kid":"${kid}","nonce":"${b64(nonce)}","ct":"${b64(ct)}","tag":"${b64(cipher.getAuthTag())}"}`;
}

const row = (id: number, accessToken: string | null, userId = USER): CandidateRow => ({
  id,
  userId,
  version: 3,
  accessToken,
  refreshToken: null,
  scopes: null,
  tokenExpiresAt: null,
  tokenKeyId: 'any',
});

type Outcome = { bytes: string } | { reason: string } | 'plaintext';

/** What the rotation did before the shortcut: inspect every row, then open or seal it. */
function inspectFirst(stored: string | null, id: number): Outcome {
  try {
    if (crypto.inspect(stored).format === 'plaintext') return 'plaintext';
    return {
      bytes: current.openBytes(crypto.reseal(stored as string, bound(id)), bound(id)).toString('utf8'),
    };
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { reason: error.code };
  }
}

function shortcut(stored: string | null, id: number): Outcome {
  const batch = resealEnvelopes([row(id, stored)], crypto);
  if (batch.plaintext.length > 0) return 'plaintext';
  if (batch.failures.length > 0) return { reason: batch.failures[0].reason };
  return { bytes: current.openBytes(batch.resealed[0].accessToken, bound(id)).toString('utf8') };
}

/** A v3 or a v2 envelope of account 7 under key A, with one character replaced somewhere. */
const damaged = fc
  .tuple(fc.boolean(), fc.nat(), fc.constantFrom('"', '\\', '\n', '=', 'A', '{', 'é', '\u0000', '_'))
  .map(([asV3, at, character]) => {
    const envelope = asV3
      ? previous.encryptJsonBlob({ access_token: 'a' }, bound(7))
      : v2(7, '{"access_token":"a"}');
    const index = at % envelope.length;
    return envelope.slice(0, index) + character + envelope.slice(index + 1);
  });

describe('resealEnvelopes', () => {
  it('opens and re-seals v3, v2 and legacy v1 envelopes as v3, and sets plaintext rows aside by position', () => {
    const rows = [
      row(1, previous.encryptJsonBlob({ access_token: 'one' }, bound(1))),
      row(2, 'plain-token'),
      row(3, legacyV1('{"access_token": "three"}')),
      row(4, v2(4, '{"access_token":"four"}'), 8),
    ];
    const batch = resealEnvelopes(rows, crypto);
    expect(batch.plaintext).toEqual([1]);
    expect(batch.failures).toEqual([]);
    expect(batch.resealed.map(({ id, version }) => ({ id, version }))).toEqual([
      { id: 1, version: 3 },
      { id: 3, version: 3 },
      { id: 4, version: 3 },
    ]);
    expect(current.decryptJsonBlob(batch.resealed[0].accessToken, bound(1))).toEqual({ access_token: 'one' });
    expect(current.openBytes(batch.resealed[1].accessToken, bound(3)).toString()).toBe(
      '{"access_token": "three"}',
    );
    expect(current.decryptJsonBlob(batch.resealed[2].accessToken, bound(4, 8))).toEqual({
      access_token: 'four',
    });
    for (const { accessToken } of batch.resealed) {
      expect(current.inspect(accessToken)).toEqual({ format: 'v3', kid: current.primaryKeyId });
    }
  });

  it("binds each re-sealed envelope to its row's user", () => {
    const batch = resealEnvelopes(
      [row(1, legacyV1('{"access_token": "one"}'), 8), row(4, v2(4, '{}'), 9)],
      crypto,
    );
    expect(batch.failures).toEqual([]);
    expect(() => current.openBytes(batch.resealed[0].accessToken, bound(1))).toThrow(EnvelopeAuthFailedError);
    expect(() => current.openBytes(batch.resealed[1].accessToken, bound(4))).toThrow(EnvelopeAuthFailedError);
    expect(current.openBytes(batch.resealed[1].accessToken, bound(4, 9)).toString()).toBe('{}');
  });

  it('records an envelope bound to another account as a failure, not a row to write', () => {
    const batch = resealEnvelopes(
      [row(2, previous.encryptJsonBlob({ access_token: 'x' }, bound(1)))],
      crypto,
    );
    expect(batch).toEqual({
      resealed: [],
      failures: [{ accountId: 2, reason: 'ENVELOPE_AUTH_FAILED' }],
      plaintext: [],
    });
  });

  it('records a v3 envelope of an account moved to another user as a failure, not a row to write', () => {
    const batch = resealEnvelopes(
      [row(2, previous.encryptJsonBlob({ access_token: 'x' }, bound(2, 6)))],
      crypto,
    );
    expect(batch).toEqual({
      resealed: [],
      failures: [{ accountId: 2, reason: 'ENVELOPE_AUTH_FAILED' }],
      plaintext: [],
    });
  });

  it('records a v2 envelope of another account as a failure, not a row to write', () => {
    const batch = resealEnvelopes([row(2, v2(1, '{}'))], crypto);
    expect(batch).toEqual({
      resealed: [],
      failures: [{ accountId: 2, reason: 'ENVELOPE_AUTH_FAILED' }],
      plaintext: [],
    });
  });

  it('tells envelopes, plaintext and damaged text apart exactly as inspecting every row first', () => {
    const stored = fc.oneof(damaged, fc.string(), fc.constant(null), fc.json());
    fc.assert(
      fc.property(stored, (text) => expect(shortcut(text, 7)).toEqual(inspectFirst(text, 7))),
      { numRuns: 500 },
    );
  });
});

describe('resealRows', () => {
  it('seals plaintext rows with the token storage rules it is given', () => {
    const full: RowCrypto = {
      ...crypto,
      openPlaintext: (plain) => ({ access_token: plain.accessToken as string }),
      seal: (binding, tokens) => current.encryptJsonBlob(tokens, binding),
    };
    const batch = resealRows([row(4, 'plain-token', 8)], full);
    expect(current.decryptJsonBlob(batch.resealed[0].accessToken, bound(4, 8))).toEqual({
      access_token: 'plain-token',
    });
    expect(() => current.openBytes(batch.resealed[0].accessToken, bound(4))).toThrow(EnvelopeAuthFailedError);
  });
});
