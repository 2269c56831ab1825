import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { aesGcmOpen, aesGcmSeal, tryAesGcmOpen } from './aead';
import { EnvelopeAuthFailedError, EnvelopeMalformedError } from './envelope.errors';

interface WycheproofVector {
  tcId: number;
  comment: string;
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
  flags: string[];
}

const VECTORS_PATH = path.resolve(__dirname, '../../../shared/testdata/wycheproof_aes256_gcm_iv96.json');
const vectors = (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { tests: WycheproofVector[] }).tests;
const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const key = (text: string): crypto.KeyObject => crypto.createSecretKey(hex(text));
const hasStandardSizes = (v: WycheproofVector): boolean => v.iv.length === 24 && v.tag.length === 32;

const validVectors = vectors.filter((v) => v.result === 'valid' && hasStandardSizes(v));
const invalidVectors = vectors.filter((v) => v.result !== 'valid' && hasStandardSizes(v));
const oddSizedVectors = vectors.filter((v) => !hasStandardSizes(v));

describe('AES-256-GCM against the Wycheproof vectors', () => {
  it('loads both valid and invalid vectors', () => {
    expect(validVectors.length).toBeGreaterThan(0);
    expect(invalidVectors.length).toBeGreaterThan(0);
    expect(validVectors.length + invalidVectors.length + oddSizedVectors.length).toBe(vectors.length);
  });

  it.each(validVectors.map((v) => [v.tcId, v] as const))('seals and opens valid vector %i', (_, v) => {
    const sealed = aesGcmSeal(key(v.key), hex(v.iv), hex(v.msg), hex(v.aad));
    expect(sealed.ct.toString('hex')).toBe(v.ct);
    expect(sealed.tag.toString('hex')).toBe(v.tag);
    expect(aesGcmOpen(key(v.key), hex(v.iv), hex(v.ct), hex(v.tag), hex(v.aad)).toString('hex')).toBe(v.msg);
  });

  it.each(invalidVectors.map((v) => [v.tcId, v.comment, v] as const))(
    'refuses to open invalid vector %i (%s)',
    (_, __, v) => {
      expect(() => aesGcmOpen(key(v.key), hex(v.iv), hex(v.ct), hex(v.tag), hex(v.aad))).toThrow(
        EnvelopeAuthFailedError,
      );
    },
  );

  it('refuses every vector whose nonce is not 96 bits or whose tag is not 128 bits by length alone', () => {
    for (const v of oddSizedVectors) {
      expect(() => aesGcmOpen(key(v.key), hex(v.iv), hex(v.ct), hex(v.tag), hex(v.aad))).toThrow(
        EnvelopeMalformedError,
      );
    }
  });

  it.each([4, 8, 12, 15])('refuses the genuine tag of a valid vector truncated to %i bytes', (bytes) => {
    for (const v of validVectors) {
      const truncated = hex(v.tag).subarray(0, bytes);
      expect(() => aesGcmOpen(key(v.key), hex(v.iv), hex(v.ct), truncated, hex(v.aad))).toThrow(
        EnvelopeMalformedError,
      );
    }
  });
});

describe('aesGcmSeal and aesGcmOpen', () => {
  const secret = crypto.createSecretKey(crypto.randomBytes(32));
  const nonce = crypto.randomBytes(12);
  const aad = Buffer.from('account 1');
  const plaintext = Buffer.from('{"access_token":"x"}');

  afterEach(() => jest.restoreAllMocks());

  it.each([8, 11, 13, 16])('refuses a %i-byte nonce before creating a cipher', (bytes) => {
    const createCipheriv = jest.spyOn(crypto, 'createCipheriv');
    const createDecipheriv = jest.spyOn(crypto, 'createDecipheriv');
    const badNonce = crypto.randomBytes(bytes);
    const { ct, tag } = aesGcmSeal(secret, nonce, plaintext, aad);
    expect(createCipheriv).toHaveBeenCalledTimes(1);
    createCipheriv.mockClear();
    expect(() => aesGcmSeal(secret, badNonce, plaintext, aad)).toThrow(EnvelopeMalformedError);
    expect(() => aesGcmOpen(secret, badNonce, ct, tag, aad)).toThrow(EnvelopeMalformedError);
    expect(createCipheriv).not.toHaveBeenCalled();
    expect(createDecipheriv).not.toHaveBeenCalled();
  });

  it.each([0, 4, 8, 12, 15, 17])('refuses a %i-byte tag before creating a decipher', (bytes) => {
    const { ct, tag } = aesGcmSeal(secret, nonce, plaintext, aad);
    const createDecipheriv = jest.spyOn(crypto, 'createDecipheriv');
    aesGcmOpen(secret, nonce, ct, tag, aad);
    expect(createDecipheriv).toHaveBeenCalledTimes(1);
    createDecipheriv.mockClear();
    const badTag = Buffer.concat([tag, crypto.randomBytes(1)]).subarray(0, bytes);
    expect(() => aesGcmOpen(secret, nonce, ct, badTag, aad)).toThrow(EnvelopeMalformedError);
    expect(createDecipheriv).not.toHaveBeenCalled();
  });

  it('opens what it sealed only under the same key and associated data', () => {
    const { ct, tag } = aesGcmSeal(secret, nonce, plaintext, aad);
    const otherKey = crypto.createSecretKey(crypto.randomBytes(32));
    expect(aesGcmOpen(secret, nonce, ct, tag, aad)).toEqual(plaintext);
    expect(() => aesGcmOpen(secret, nonce, ct, tag, Buffer.from('account 2'))).toThrow(EnvelopeAuthFailedError);
    expect(() => aesGcmOpen(otherKey, nonce, ct, tag, aad)).toThrow(EnvelopeAuthFailedError);
  });

  it('returns nothing, not partial plaintext, when the tag does not verify', () => {
    const { ct, tag } = aesGcmSeal(secret, nonce, plaintext, aad);
    const badTag = Buffer.from(tag);
    badTag[0] ^= 1;
    expect(tryAesGcmOpen(secret, nonce, ct, badTag, aad)).toBeUndefined();
  });
});
