import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { EnvelopeAuthFailedError, EnvelopeMalformedError } from './envelope.errors';
import { EnvelopeService } from './envelope.service';
import { KeyRing } from './key-ring';

const newKey = (): string => randomBytes(32).toString('base64');

/** Python's json.dumps defaults: ", " and ": " separators, non-ASCII escaped as \uXXXX. */
function pythonJsonDumps(value: Record<string, string | number>): string {
  const ascii = (item: string | number): string =>
    JSON.stringify(item).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
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
  return pythonJsonDumps({ _enc: 'aesgcm:v1', nonce: b64(nonce), ct: b64(ct), tag: b64(cipher.getAuthTag()) });
}

const PYTHON_PLAINTEXT = '{"access_token": "x", "refresh_token": "y"}';

describe('EnvelopeService with legacy v1 envelopes from the Python service', () => {
  const [primary, previous, secondary] = [newKey(), newKey(), newKey()];
  const service = new EnvelopeService(KeyRing.fromSettings({ primary, previous, secondary }));

  it('opens a v1 envelope sealed with the primary key', () => {
    const stored = pythonV1Envelope(primary, PYTHON_PLAINTEXT);
    expect(service.inspect(stored)).toEqual({ format: 'v1' });
    expect(service.decryptJsonBlob(stored, 1)).toEqual({ access_token: 'x', refresh_token: 'y' });
  });

  it.each([
    ['a previous key', previous],
    ['the secondary key', secondary],
  ])('opens a v1 envelope sealed with %s', (_, key) => {
    const stored = pythonV1Envelope(key, PYTHON_PLAINTEXT);
    expect(service.decryptJsonBlob(stored, 1)).toEqual({ access_token: 'x', refresh_token: 'y' });
  });

  it('reads the \\u escapes Python writes for non-ASCII text', () => {
    const stored = pythonV1Envelope(primary, pythonJsonDumps({ access_token: 'café-漢字' }));
    expect(stored).not.toContain('é');
    expect(service.decryptJsonBlob(stored, 1)).toEqual({ access_token: 'café-漢字' });
  });

  it('refuses a v1 envelope sealed with a key outside the ring', () => {
    const stored = pythonV1Envelope(newKey(), PYTHON_PLAINTEXT);
    expect(() => service.decryptJsonBlob(stored, 1)).toThrow(EnvelopeAuthFailedError);
  });

  it('refuses a v1 envelope whose tag was altered, under every key', () => {
    const envelope = JSON.parse(pythonV1Envelope(previous, PYTHON_PLAINTEXT)) as Record<string, string>;
    const tag = Buffer.from(envelope.tag, 'base64');
    tag[15] ^= 0x80;
    const altered = JSON.stringify({ ...envelope, tag: tag.toString('base64') });
    expect(() => service.openBytes(altered, 1)).toThrow(EnvelopeAuthFailedError);
  });

  it('refuses a v1 envelope that carries a kid or any other extra field', () => {
    const envelope = JSON.parse(pythonV1Envelope(primary, PYTHON_PLAINTEXT)) as Record<string, string>;
    const withKid = JSON.stringify({ ...envelope, kid: service.primaryKeyId });
    expect(() => service.openBytes(withKid, 1)).toThrow(EnvelopeMalformedError);
  });

  it('refuses a v1 envelope relabelled as v2 with a key id', () => {
    const envelope = JSON.parse(pythonV1Envelope(primary, PYTHON_PLAINTEXT)) as Record<string, string>;
    const upgraded = JSON.stringify({ ...envelope, _enc: 'aesgcm:v2', kid: service.primaryKeyId });
    expect(() => service.openBytes(upgraded, 1)).toThrow(EnvelopeAuthFailedError);
  });

  it('reseals a v1 envelope as v2 under the primary key, keeping the Python bytes and binding it', () => {
    const stored = pythonV1Envelope(previous, PYTHON_PLAINTEXT);
    const resealed = service.reseal(stored, 77);
    expect(service.inspect(resealed)).toEqual({ format: 'v2', kid: service.primaryKeyId });
    expect(service.openBytes(resealed, 77).toString('utf8')).toBe(PYTHON_PLAINTEXT);
    expect(() => service.openBytes(resealed, 78)).toThrow(EnvelopeAuthFailedError);
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
        expect(service.decryptJsonBlob(stored, 'any')).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });
});
