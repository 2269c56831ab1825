import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  EncryptionKeyMissingError,
  EnvelopeAuthFailedError,
  EnvelopeMalformedError,
  EnvelopeUnknownKeyError,
  EnvelopeUnsupportedFormatError,
} from './envelope.errors';
import { EnvelopeService, type AccountBinding as EnvelopeBinding } from './envelope.service';
import { KeyRing } from './key-ring';

const newKey = (): string => randomBytes(32).toString('base64');
const serviceWith = (settings: Parameters<typeof KeyRing.fromSettings>[0]): EnvelopeService =>
  new EnvelopeService(KeyRing.fromSettings(settings));

const tokens = {
  access_token: 'ya29.a0AfH6SMB',
  refresh_token: '1//0gLx-refresh',
  token_type: 'Bearer',
  expires_in: 3599,
  expires_at: 1767225600,
  scope: 'openid email',
  id_token: 'eyJhbGciOi.unicode-é-漢字-🙂',
};
const ROW: EnvelopeBinding = { userId: 3, accountId: 42 };
const V3_TEXT =
  /^\{"_enc":"aesgcm:v3","kid":"[0-9a-f]{16}","nonce":"[A-Za-z0-9+/]{16}","ct":"[A-Za-z0-9+/]*={0,2}","tag":"[A-Za-z0-9+/]{22}=="\}$/;

describe('EnvelopeService sealing and opening', () => {
  const primary = newKey();
  const service = serviceWith({ primary });

  it('round-trips a token set through a v3 envelope bound to the user and the account', () => {
    const stored = service.encryptJsonBlob(tokens, ROW);
    expect(stored).toMatch(V3_TEXT);
    expect(service.decryptJsonBlob(stored, ROW)).toEqual(tokens);
  });

  it('writes the primary key id, a 12-byte nonce and a 16-byte tag', () => {
    const envelope = JSON.parse(service.encryptJsonBlob(tokens, ROW)) as Record<string, string>;
    expect(Object.keys(envelope)).toEqual(['_enc', 'kid', 'nonce', 'ct', 'tag']);
    expect(envelope.kid).toBe(service.primaryKeyId);
    expect(Buffer.from(envelope.nonce, 'base64')).toHaveLength(12);
    expect(Buffer.from(envelope.tag, 'base64')).toHaveLength(16);
  });

  it('binds envelopes with the documented associated data: label, format version, user id, account id', () => {
    const binding = { userId: 1234, accountId: 9 };
    const aad = Buffer.from('connectors-backend/external_accounts\x00aesgcm:v3\x001234\x009');
    const envelope = JSON.parse(service.encryptJsonBlob(tokens, binding)) as Record<string, string>;
    const b64 = (field: string): Buffer => Buffer.from(envelope[field], 'base64');
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(primary, 'base64'), b64('nonce'));
    decipher.setAAD(aad).setAuthTag(b64('tag'));
    const plaintext = Buffer.concat([decipher.update(b64('ct')), decipher.final()]);
    expect(JSON.parse(plaintext.toString('utf8'))).toEqual(tokens);

    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(primary, 'base64'), nonce).setAAD(aad);
    const ct = Buffer.concat([cipher.update('{"access_token":"t"}'), cipher.final()]);
    const made = { ...envelope, nonce: nonce.toString('base64'), ct: ct.toString('base64') };
    const stored = JSON.stringify({ ...made, tag: cipher.getAuthTag().toString('base64') });
    expect(service.decryptJsonBlob(stored, binding)).toEqual({ access_token: 't' });
  });

  it('uses a fresh nonce for every seal and never shows the plaintext', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const stored = service.encryptJsonBlob(tokens, ROW);
      nonces.add((JSON.parse(stored) as { nonce: string }).nonce);
      expect(stored).not.toContain(tokens.access_token);
    }
    expect(nonces.size).toBe(1000);
  });

  it('round-trips raw bytes, including an empty buffer, unchanged', () => {
    for (const bytes of [Buffer.alloc(0), randomBytes(1), randomBytes(5000)]) {
      expect(service.openBytes(service.sealBytes(bytes, ROW), ROW)).toEqual(bytes);
    }
  });

  // Ids are numbers only: a decimal string such as '42' would be a second spelling of the same row.
  const badIds: Array<[string, unknown]> = [
    ['an empty string', ''],
    ['a decimal string', '42'],
    ['NaN', Number.NaN],
    ['a fraction', 1.5],
    ['an unsafe integer', 2 ** 53],
    ['null', null],
    ['a missing id', undefined],
  ];

  it.each(badIds)('refuses %s as the user id or the account id of a binding, sealing or opening', (_, id) => {
    const stored = service.encryptJsonBlob(tokens, ROW);
    for (const binding of [
      { ...ROW, userId: id },
      { ...ROW, accountId: id },
    ] as EnvelopeBinding[]) {
      expect(() => service.encryptJsonBlob(tokens, binding)).toThrow(TypeError);
      expect(() => service.decryptJsonBlob(stored, binding)).toThrow(TypeError);
    }
  });

  it('binds a provider client secret to its provider, apart from every account envelope', () => {
    const secret = service.encryptJsonBlob('client-secret-value', { provider: 'notion' });
    expect(service.decryptJsonBlob(secret, { provider: 'notion' })).toBe('client-secret-value');
    expect(() => service.decryptJsonBlob(secret, { provider: 'google_drive' })).toThrow(
      EnvelopeAuthFailedError,
    );
    expect(() => service.decryptJsonBlob(secret, ROW)).toThrow(EnvelopeAuthFailedError);
    const account = service.encryptJsonBlob(tokens, ROW);
    expect(() => service.decryptJsonBlob(account, { provider: 'notion' })).toThrow(EnvelopeAuthFailedError);
    expect(
      service.decryptJsonBlob(service.reseal(secret, { provider: 'notion' }), { provider: 'notion' }),
    ).toBe('client-secret-value');
  });

  it('binds a PKCE verifier to its connect session, apart from secrets and accounts', () => {
    const session = { connectSession: '6f1c7f52-2b8e-4a59-9d43-0b0c3e0c9b11' };
    const verifier = service.encryptJsonBlob('verifier-value', session);
    expect(service.decryptJsonBlob(verifier, session)).toBe('verifier-value');
    const other = { connectSession: '0d3c8a57-6c0e-4c4b-8d0a-7c1c0b2f2f10' };
    expect(() => service.decryptJsonBlob(verifier, other)).toThrow(EnvelopeAuthFailedError);
    expect(() => service.decryptJsonBlob(verifier, { provider: session.connectSession })).toThrow(
      EnvelopeAuthFailedError,
    );
    expect(() => service.decryptJsonBlob(verifier, ROW)).toThrow(EnvelopeAuthFailedError);
  });

  it('refuses a value with no JSON form', () => {
    expect(() => service.encryptJsonBlob(undefined, ROW)).toThrow(TypeError);
  });

  it('refuses to read authenticated bytes that are not JSON as a JSON blob, without quoting them', () => {
    const stored = service.sealBytes(Buffer.from('not json: secret-token-value'), ROW);
    expect(() => service.decryptJsonBlob(stored, ROW)).toThrow(EnvelopeMalformedError);
    expect(() => service.decryptJsonBlob(stored, ROW)).toThrow(/^malformed envelope: plaintext is not JSON$/);
  });

  it('reseals an envelope from a previous key under the primary key with the same bytes', () => {
    const old = newKey();
    const before = serviceWith({ primary: old }).sealBytes(Buffer.from('{"a": 1}'), ROW);
    const rotated = serviceWith({ primary, previous: old });
    const after = rotated.reseal(before, ROW);
    expect(rotated.inspect(after)).toEqual({ format: 'v3', kid: rotated.primaryKeyId });
    expect(rotated.openBytes(after, ROW).toString()).toBe('{"a": 1}');
  });

  it('reports the primary key id and whether encryption is enabled', () => {
    expect(service.encryptionEnabled).toBe(true);
    expect(service.primaryKeyId).toBe(KeyRing.fromSettings({ primary }).primaryKeyId);
    const disabled = serviceWith({});
    expect(disabled.encryptionEnabled).toBe(false);
    expect(disabled.primaryKeyId).toBeUndefined();
  });

  it('refuses to seal without a primary key but still opens with a previous key', () => {
    const stored = service.encryptJsonBlob(tokens, ROW);
    const decryptOnly = serviceWith({ previous: primary });
    expect(() => decryptOnly.encryptJsonBlob(tokens, ROW)).toThrow(EncryptionKeyMissingError);
    expect(() => decryptOnly.reseal(stored, ROW)).toThrow(EncryptionKeyMissingError);
    expect(decryptOnly.decryptJsonBlob(stored, ROW)).toEqual(tokens);
  });

  it('names an unknown key id, which is not secret, in the error', () => {
    const stored = serviceWith({ primary: newKey() }).encryptJsonBlob(tokens, ROW);
    const kid = (JSON.parse(stored) as { kid: string }).kid;
    expect(() => service.decryptJsonBlob(stored, ROW)).toThrow(EnvelopeUnknownKeyError);
    expect(() => service.decryptJsonBlob(stored, ROW)).toThrow(kid);
  });
});

describe('EnvelopeService.inspect', () => {
  const service = serviceWith({ primary: newKey() });

  it.each(['v3', 'v2'])('tells a %s envelope and its key id without decrypting it', (format) => {
    const kid = 'aaaaaaaaaaaaaaaa';
    const unopenable = JSON.stringify({ _enc: `aesgcm:${format}`, kid, nonce: 'x', ct: 'y', tag: 'z' });
    expect(service.inspect(unopenable)).toEqual({ format, kid });
  });

  it('tells its own envelopes as v3 under the primary key', () => {
    expect(service.inspect(service.encryptJsonBlob(tokens, ROW))).toEqual({
      format: 'v3',
      kid: service.primaryKeyId,
    });
  });

  it('tells a legacy v1 envelope, with or without Python spacing', () => {
    expect(service.inspect('{"_enc": "aesgcm:v1", "nonce": "", "ct": "", "tag": ""}')).toEqual({
      format: 'v1',
    });
    expect(service.inspect(' \n{"_enc":"aesgcm:v1"}')).toEqual({ format: 'v1' });
  });

  it.each([
    null,
    undefined,
    '',
    'ya29.a0AfH6SMB-plain-token',
    '{not json',
    '[{"_enc":"aesgcm:v2"}]',
    '[{"_enc":"aesgcm:v3"}]',
    '42',
    'null',
    '"{\\"_enc\\":\\"aesgcm:v2\\"}"',
    '"{\\"_enc\\":\\"aesgcm:v3\\"}"',
    '{"access_token":"x","refresh_token":"y"}',
  ])('treats %j as plaintext', (stored) => {
    expect(service.inspect(stored)).toEqual({ format: 'plaintext' });
  });

  it.each(['"aesgcm:v4"', '"aesgcm:v0"', '"AESGCM:V3"', '"AESGCM:V2"', '5', 'null', '{}'])(
    'refuses an object whose _enc is %s',
    (enc) => {
      expect(() => service.inspect(`{"_enc":${enc}}`)).toThrow(EnvelopeUnsupportedFormatError);
    },
  );

  it.each(
    ['v3', 'v2'].flatMap((format) =>
      [undefined, 5, 'AAAAAAAAAAAAAAAA', 'aaaa', 'aaaaaaaaaaaaaaaaa'].map((kid) => [format, kid]),
    ),
  )('calls a %s envelope with kid %j malformed', (format, kid) => {
    const stored = JSON.stringify({ _enc: `aesgcm:${format as string}`, kid, nonce: '', ct: '', tag: '' });
    expect(() => service.inspect(stored)).toThrow(EnvelopeMalformedError);
  });
});
