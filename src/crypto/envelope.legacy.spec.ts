import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { EnvelopeAuthFailedError, EnvelopeMalformedError } from './envelope.errors';
import { EnvelopeService } from './envelope.service';
import { KeyRing, keyIdOf } from './key-ring';

const newKey = (): string => randomBytes(32).toString('base64');

/** Python's json.dumps defaults: ", " and ": " separators, non-ASCII escaped as \uXXXX. */
function pythonJsonDumps(value: Record<string, string | number>): string {
  const ascii = (item: string | number): string =>
    JSON.stringify(item).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  return `{${Object.entries(value)
    .map(([name, item]) => `${ascii(name)}: ${ascii(item)}`)
    .join(', ')}}`;
}

/** What the original Python service stored: AES-256-GCM without associated data. */
function pythonV1Envelope(base64Key: string, plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(base64Key, 'base64'), nonce);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const b64 = (bytes: Buffer): string => bytes.toString('base64');
  return pythonJsonDumps({
    _enc: 'aesgcm:v1',
    nonce: b64(nonce),
    ct: b64(ct),
    tag: b64(cipher.getAuthTag()),
  });
}

const PYTHON_PLAINTEXT = '{"access_token": "x", "refresh_token": "y"}';
const ROW = { userId: 3, accountId: 77 };

describe('EnvelopeService with legacy v1 envelopes from the Python service', () => {
  const [primary, previous, secondary] = [newKey(), newKey(), newKey()];
  const service = new EnvelopeService(KeyRing.fromSettings({ primary, previous, secondary }));

  it('opens a v1 envelope sealed with the primary key', () => {
    const stored = pythonV1Envelope(primary, PYTHON_PLAINTEXT);
    expect(service.inspect(stored)).toEqual({ format: 'v1' });
    expect(service.decryptJsonBlob(stored, ROW)).toEqual({ access_token: 'x', refresh_token: 'y' });
  });

  it.each([
    ['a previous key', previous],
    ['the secondary key', secondary],
  ])('opens a v1 envelope sealed with %s', (_, key) => {
    const stored = pythonV1Envelope(key, PYTHON_PLAINTEXT);
    expect(service.decryptJsonBlob(stored, ROW)).toEqual({ access_token: 'x', refresh_token: 'y' });
  });

  it('reads the \\u escapes Python writes for non-ASCII text', () => {
    const stored = pythonV1Envelope(primary, pythonJsonDumps({ access_token: 'café-漢字' }));
    expect(stored).not.toContain('é');
    expect(service.decryptJsonBlob(stored, ROW)).toEqual({ access_token: 'café-漢字' });
  });

  it('refuses a v1 envelope sealed with a key outside the ring', () => {
    const stored = pythonV1Envelope(newKey(), PYTHON_PLAINTEXT);
    expect(() => service.decryptJsonBlob(stored, ROW)).toThrow(EnvelopeAuthFailedError);
  });

  it('refuses a v1 envelope whose tag was altered, under every key', () => {
    const envelope = JSON.parse(pythonV1Envelope(previous, PYTHON_PLAINTEXT)) as Record<string, string>;
    const tag = Buffer.from(envelope.tag, 'base64');
    tag[15] ^= 0x80;
    const altered = JSON.stringify({ ...envelope, tag: tag.toString('base64') });
    expect(() => service.openBytes(altered, ROW)).toThrow(EnvelopeAuthFailedError);
  });

  it('refuses a v1 envelope that carries a kid or any other extra field', () => {
    const envelope = JSON.parse(pythonV1Envelope(primary, PYTHON_PLAINTEXT)) as Record<string, string>;
    const withKid = JSON.stringify({ ...envelope, kid: service.primaryKeyId });
    expect(() => service.openBytes(withKid, ROW)).toThrow(EnvelopeMalformedError);
  });

  it.each(['aesgcm:v3', 'aesgcm:v2'])('refuses a v1 envelope relabelled as %s with a key id', (format) => {
    const envelope = JSON.parse(pythonV1Envelope(primary, PYTHON_PLAINTEXT)) as Record<string, string>;
    const upgraded = JSON.stringify({ ...envelope, _enc: format, kid: service.primaryKeyId });
    expect(() => service.openBytes(upgraded, ROW)).toThrow(EnvelopeAuthFailedError);
  });

  it('reseals a v1 envelope as v3 under the primary key, keeping the Python bytes and binding it', () => {
    const stored = pythonV1Envelope(previous, PYTHON_PLAINTEXT);
    const resealed = service.reseal(stored, ROW);
    expect(service.inspect(resealed)).toEqual({ format: 'v3', kid: service.primaryKeyId });
    expect(service.openBytes(resealed, ROW).toString('utf8')).toBe(PYTHON_PLAINTEXT);
    expect(() => service.openBytes(resealed, { ...ROW, accountId: 78 })).toThrow(EnvelopeAuthFailedError);
    expect(() => service.openBytes(resealed, { ...ROW, userId: 4 })).toThrow(EnvelopeAuthFailedError);
  });

  it('opens any Python-written token set sealed with any key of the ring', () => {
    const tokenSet = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.integer()),
      { minKeys: 1, maxKeys: 8, noNullPrototype: true },
    );
    fc.assert(
      fc.property(tokenSet, fc.constantFrom(primary, previous, secondary), (value, key) => {
        const stored = pythonV1Envelope(key, pythonJsonDumps(value));
        expect(service.decryptJsonBlob(stored, ROW)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });
});

/**
 * A v2 envelope as earlier versions of this service wrote it, built from the format's
 * definition: the key id of the key, associated data naming the account only.
 */
function v2Envelope(base64Key: string, accountId: number, plaintext: string): string {
  const key = Buffer.from(base64Key, 'base64');
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(`connectors-backend/external_accounts\x00aesgcm:v2\x00${accountId}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const b64 = (bytes: Buffer): string => bytes.toString('base64');
  const kid = keyIdOf(createSecretKey(key));
  return `{"_enc":"aesgcm:v2","kid":"${kid}","nonce":"${b64(nonce)}","ct":"${b64(ct)}","tag":"${b64(cipher.getAuthTag())}"}`;
}

describe('EnvelopeService with v2 envelopes from earlier versions', () => {
  const [primary, previous] = [newKey(), newKey()];
  const service = new EnvelopeService(KeyRing.fromSettings({ primary, previous }));
  const previousKid = KeyRing.fromSettings({ primary: previous }).primaryKeyId;
  const PLAINTEXT = '{"access_token":"x","refresh_token":"y"}';

  it('opens a v2 envelope under its account whatever the user, as v2 bound the account only', () => {
    const stored = v2Envelope(previous, 77, PLAINTEXT);
    expect(service.inspect(stored)).toEqual({ format: 'v2', kid: previousKid });
    for (const userId of [0, 3, 4, 2 ** 40]) {
      expect(service.openBytes(stored, { userId, accountId: 77 }).toString('utf8')).toBe(PLAINTEXT);
    }
  });

  it('refuses a v2 envelope under another account', () => {
    const stored = v2Envelope(previous, 77, PLAINTEXT);
    expect(() => service.openBytes(stored, { userId: 3, accountId: 78 })).toThrow(EnvelopeAuthFailedError);
  });

  it('refuses a v2 envelope relabelled as v3 with the same key id, nonce, ciphertext and tag', () => {
    const stored = v2Envelope(primary, 77, PLAINTEXT);
    const relabelled = stored.replace('"_enc":"aesgcm:v2"', '"_enc":"aesgcm:v3"');
    expect(service.inspect(relabelled)).toEqual({ format: 'v3', kid: service.primaryKeyId });
    expect(() => service.openBytes(relabelled, { userId: 3, accountId: 77 })).toThrow(
      EnvelopeAuthFailedError,
    );
  });

  it('reseals a v2 envelope as v3 under the primary key with the same bytes, bound to the given user', () => {
    const stored = v2Envelope(previous, 77, PLAINTEXT);
    const resealed = service.reseal(stored, { userId: 3, accountId: 77 });
    expect(service.inspect(resealed)).toEqual({ format: 'v3', kid: service.primaryKeyId });
    expect(service.openBytes(resealed, { userId: 3, accountId: 77 }).toString('utf8')).toBe(PLAINTEXT);
    expect(() => service.openBytes(resealed, { userId: 4, accountId: 77 })).toThrow(EnvelopeAuthFailedError);
    expect(() => service.openBytes(resealed, { userId: 3, accountId: 78 })).toThrow(EnvelopeAuthFailedError);
  });

  it('reseals a v2 envelope under the primary key too: v2 under the primary is still upgraded', () => {
    const stored = v2Envelope(primary, 77, PLAINTEXT);
    const resealed = service.reseal(stored, { userId: 3, accountId: 77 });
    expect(service.inspect(resealed)).toEqual({ format: 'v3', kid: service.primaryKeyId });
    expect(() => service.openBytes(resealed, { userId: 4, accountId: 77 })).toThrow(EnvelopeAuthFailedError);
  });

  it('refuses to reseal a v2 envelope for another account', () => {
    const stored = v2Envelope(previous, 77, PLAINTEXT);
    expect(() => service.reseal(stored, { userId: 3, accountId: 78 })).toThrow(EnvelopeAuthFailedError);
  });
});
