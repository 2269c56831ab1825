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

const VECTORS_PATH = path.join(__dirname, 'testdata', 'wycheproof_aes256_gcm_iv96.json');
const vectors = (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { tests: WycheproofVector[] }).tests;
const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const key = (text: string): crypto.KeyObject => crypto.createSecretKey(hex(text));
const validVectors = vectors.filter((v) => v.result === 'valid');
const invalidVectors = vectors.filter((v) => v.result !== 'valid');

describe('AES-256-GCM against the Wycheproof vectors', () => {
  it('loads both valid and invalid vectors, all with a 96-bit nonce and a 128-bit tag', () => {
    expect(validVectors.length).toBeGreaterThan(0);
    expect(invalidVectors.length).toBeGreaterThan(0);
    expect(vectors.every((v) => v.iv.length === 24 && v.tag.length === 32)).toBe(true);
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

  // Node accepts these sizes itself (any IV length; a short tag unless authTagLength is set), so
  // each is a genuine ciphertext that only the length checks stop.
  it.each([
    [8, 16],
    [16, 16],
    [60, 16],
    [12, 12],
    [12, 8],
    [8, 4],
  ])('refuses a genuine %i-byte-nonce, %i-byte-tag ciphertext by length alone', (nonceBytes, tagBytes) => {
    const rawKey = crypto.randomBytes(32);
    const oddNonce = crypto.randomBytes(nonceBytes);
    const message = Buffer.from('{"access_token":"odd"}');
    const cipher = crypto.createCipheriv('aes-256-gcm', rawKey, oddNonce, { authTagLength: tagBytes });
    const ct = Buffer.concat([cipher.update(message), cipher.final()]);
    const tag = cipher.getAuthTag();
    const decipher = crypto.createDecipheriv('aes-256-gcm', rawKey, oddNonce, { authTagLength: tagBytes });
    decipher.setAuthTag(tag);
    expect(Buffer.concat([decipher.update(ct), decipher.final()])).toEqual(message);

    const secretKey = crypto.createSecretKey(rawKey);
    expect(() => aesGcmOpen(secretKey, oddNonce, ct, tag, Buffer.alloc(0))).toThrow(EnvelopeMalformedError);
    expect(() => tryAesGcmOpen(secretKey, oddNonce, ct, tag, Buffer.alloc(0))).toThrow(
      EnvelopeMalformedError,
    );
    if (nonceBytes !== 12) {
      expect(() => aesGcmSeal(secretKey, oddNonce, message, Buffer.alloc(0))).toThrow(EnvelopeMalformedError);
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
    expect(() => aesGcmOpen(secret, nonce, ct, tag, Buffer.from('account 2'))).toThrow(
      EnvelopeAuthFailedError,
    );
    expect(() => aesGcmOpen(otherKey, nonce, ct, tag, aad)).toThrow(EnvelopeAuthFailedError);
  });

  it('returns nothing, not partial plaintext, when the tag does not verify', () => {
    const { ct, tag } = aesGcmSeal(secret, nonce, plaintext, aad);
    const badTag = Buffer.from(tag);
    badTag[0] ^= 1;
    expect(tryAesGcmOpen(secret, nonce, ct, badTag, aad)).toBeUndefined();
  });
});
