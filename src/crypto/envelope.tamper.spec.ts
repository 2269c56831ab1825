import { randomBytes } from 'node:crypto';
import {
  EnvelopeAuthFailedError,
  EnvelopeError,
  EnvelopeMalformedError,
  EnvelopeUnknownKeyError,
  EnvelopeUnsupportedFormatError,
} from './envelope.errors';
import { EnvelopeService, type AccountBinding as EnvelopeBinding } from './envelope.service';
import { KeyRing } from './key-ring';

type Envelope = Record<string, unknown>;

const newKey = (): string => randomBytes(32).toString('base64');
const primary = newKey();
const previous = newKey();
const service = new EnvelopeService(KeyRing.fromSettings({ primary, previous }));
const previousKid = KeyRing.fromSettings({ primary: previous }).primaryKeyId as string;
const tokens = { access_token: 'access-secret', refresh_token: 'refresh-secret', expires_in: 3600 };
const ROW: EnvelopeBinding = { userId: 11, accountId: 1 };

function sealed(): Envelope {
  return JSON.parse(service.encryptJsonBlob(tokens, ROW)) as Envelope;
}

function flipBit(base64: unknown, bit: number): string {
  const bytes = Buffer.from(base64 as string, 'base64');
  bytes[bit >> 3] ^= 1 << (bit & 7);
  return bytes.toString('base64');
}

function openError(stored: string, binding: EnvelopeBinding = ROW): EnvelopeError {
  try {
    service.decryptJsonBlob(stored, binding);
  } catch (error) {
    if (error instanceof EnvelopeError) {
      return error;
    }
    throw error;
  }
  throw new Error('the envelope opened');
}

describe('EnvelopeService refuses altered envelopes', () => {
  it.each(['nonce', 'ct', 'tag'])('refuses an envelope with one bit of %s flipped', (field) => {
    const envelope = sealed();
    const bits = Buffer.from(envelope[field] as string, 'base64').length * 8;
    for (const bit of [0, bits - 1, Math.floor(bits / 2)]) {
      const altered = { ...envelope, [field]: flipBit(envelope[field], bit) };
      expect(openError(JSON.stringify(altered))).toBeInstanceOf(EnvelopeAuthFailedError);
    }
  });

  it('refuses an envelope relabelled with the id of another key in the ring', () => {
    const altered = { ...sealed(), kid: previousKid };
    expect(openError(JSON.stringify(altered))).toBeInstanceOf(EnvelopeAuthFailedError);
  });

  it('refuses an envelope relabelled with an unknown key id, naming the key id', () => {
    const altered = { ...sealed(), kid: '0123456789abcdef' };
    const error = openError(JSON.stringify(altered));
    expect(error).toBeInstanceOf(EnvelopeUnknownKeyError);
    expect(error.message).toContain('0123456789abcdef');
  });

  it('refuses an envelope copied to another account of the same user', () => {
    const stored = service.encryptJsonBlob(tokens, ROW);
    expect(openError(stored, { ...ROW, accountId: 2 })).toBeInstanceOf(EnvelopeAuthFailedError);
    // A near-identical spelling of the id is no way around the binding either.
    const spelled = { ...ROW, accountId: '1 ' } as unknown as EnvelopeBinding;
    expect(() => service.decryptJsonBlob(stored, spelled)).toThrow(TypeError);
  });

  it('refuses an envelope whose account was moved to another user', () => {
    const stored = service.encryptJsonBlob(tokens, ROW);
    expect(openError(stored, { ...ROW, userId: 12 })).toBeInstanceOf(EnvelopeAuthFailedError);
    expect(() =>
      service.decryptJsonBlob(stored, { ...ROW, userId: '11' } as unknown as EnvelopeBinding),
    ).toThrow(TypeError);
  });

  it('refuses an envelope opened with the user id and the account id swapped', () => {
    const stored = service.encryptJsonBlob(tokens, { userId: 1, accountId: 2 });
    expect(openError(stored, { userId: 2, accountId: 1 })).toBeInstanceOf(EnvelopeAuthFailedError);
  });

  it('refuses a v3 envelope rewritten as v2 with the same key id, nonce, ciphertext and tag', () => {
    // Re-spaced, so the general parser reads it rather than the canonical-layout path.
    const downgraded = JSON.stringify({ ...sealed(), _enc: 'aesgcm:v2' }, null, 1);
    expect(openError(downgraded)).toBeInstanceOf(EnvelopeAuthFailedError);
    expect(openError(downgraded, { ...ROW, userId: 12 })).toBeInstanceOf(EnvelopeAuthFailedError);
  });

  it('refuses a v3 envelope rewritten as v2 in the canonical layout', () => {
    const downgraded = service
      .encryptJsonBlob(tokens, ROW)
      .replace('"_enc":"aesgcm:v3"', '"_enc":"aesgcm:v2"');
    expect(service.inspect(downgraded)).toEqual({ format: 'v2', kid: service.primaryKeyId });
    expect(openError(downgraded)).toBeInstanceOf(EnvelopeAuthFailedError);
  });

  it('refuses a v3 envelope rewritten as v1 with the same nonce, ciphertext and tag', () => {
    const { kid: _kid, ...rest } = sealed();
    const downgraded = { ...rest, _enc: 'aesgcm:v1' };
    expect(openError(JSON.stringify(downgraded))).toBeInstanceOf(EnvelopeAuthFailedError);
  });

  it.each(['aesgcm:v4', 'aesgcm:v0', 'AESGCM:v3', 'AESGCM:v2'])(
    'refuses an envelope whose _enc became %s',
    (format) => {
      const altered = { ...sealed(), _enc: format };
      expect(openError(JSON.stringify(altered))).toBeInstanceOf(EnvelopeUnsupportedFormatError);
    },
  );

  it.each([4, 8, 12, 15])('refuses the genuine tag truncated to %i bytes', (bytes) => {
    const envelope = sealed();
    const tag = Buffer.from(envelope.tag as string, 'base64')
      .subarray(0, bytes)
      .toString('base64');
    expect(openError(JSON.stringify({ ...envelope, tag }))).toBeInstanceOf(EnvelopeMalformedError);
  });

  it.each([8, 11, 13, 16])('refuses a %i-byte nonce', (bytes) => {
    const envelope = sealed();
    const original = Buffer.from(envelope.nonce as string, 'base64');
    const nonce = Buffer.concat([original, Buffer.alloc(4)])
      .subarray(0, bytes)
      .toString('base64');
    expect(openError(JSON.stringify({ ...envelope, nonce }))).toBeInstanceOf(EnvelopeMalformedError);
  });

  it('still opens the genuine envelope re-spaced and with its keys reordered', () => {
    const { _enc, kid, nonce, ct, tag } = sealed();
    const respaced = JSON.stringify({ tag, ct, nonce, kid, _enc }, null, 2);
    expect(service.decryptJsonBlob(respaced, ROW)).toEqual(tokens);
  });
});

describe('EnvelopeService refuses what is not an envelope', () => {
  it.each([
    'garbage',
    '{garbage',
    '',
    '[1,2,3]',
    '42',
    'null',
    '"text"',
    '{}',
    '{"access_token":"x","refresh_token":"y"}',
  ])('calls %j malformed', (stored) => {
    expect(openError(stored)).toBeInstanceOf(EnvelopeMalformedError);
  });

  it.each(['kid', 'nonce', 'ct', 'tag'])('calls an envelope without %s malformed', (field) => {
    const envelope = sealed();
    delete envelope[field];
    expect(openError(JSON.stringify(envelope))).toBeInstanceOf(EnvelopeMalformedError);
  });

  it.each(['kid', 'nonce', 'ct', 'tag'])('calls an envelope whose %s is not a string malformed', (field) => {
    for (const value of [null, 12, true, [], {}, ['AAAA']]) {
      const envelope = { ...sealed(), [field]: value };
      expect(openError(JSON.stringify(envelope))).toBeInstanceOf(EnvelopeMalformedError);
    }
  });

  it('calls an envelope with an extra field malformed', () => {
    const envelope = { ...sealed(), aad: '' };
    expect(openError(JSON.stringify(envelope))).toBeInstanceOf(EnvelopeMalformedError);
  });

  const nonCanonical: Array<[string, (text: string) => string]> = [
    ['missing padding', (text) => text.replace(/=+$/, '')],
    ['extra padding', (text) => `${text}==`],
    ['inner whitespace', (text) => `${text.slice(0, 4)} ${text.slice(4)}`],
    ['a trailing newline', (text) => `${text}\n`],
    ['a foreign character', (text) => `${text.slice(0, 4)}*${text.slice(5)}`],
    ['non-zero padding bits', (text) => `${text.slice(0, 21)}B==`],
  ];

  it.each(nonCanonical)('calls a tag with %s malformed', (_, alter) => {
    const envelope = sealed();
    const tag = alter(envelope.tag as string);
    expect(tag).not.toBe(envelope.tag);
    expect(openError(JSON.stringify({ ...envelope, tag }))).toBeInstanceOf(EnvelopeMalformedError);
  });

  it('calls a ciphertext in the url-safe alphabet malformed', () => {
    let envelope = sealed();
    while (!/[+/]/.test(envelope.ct as string)) {
      envelope = sealed();
    }
    const ct = (envelope.ct as string).replace(/\+/g, '-').replace(/\//g, '_');
    expect(openError(JSON.stringify({ ...envelope, ct }))).toBeInstanceOf(EnvelopeMalformedError);
  });

  it('keeps keys, nonces, ciphertext, tags and plaintext out of every error message', () => {
    const envelope = sealed();
    const failures = [
      openError(JSON.stringify({ ...envelope, tag: flipBit(envelope.tag, 3) })),
      openError(JSON.stringify({ ...envelope, nonce: 'AAAA' })),
      openError(JSON.stringify({ ...envelope, kid: 'ffffffffffffffff' })),
      openError(JSON.stringify({ ...envelope, _enc: 'secret-format' })),
      openError(JSON.stringify({ ...envelope, ct: `${envelope.ct as string}!` })),
    ];
    const secrets = [
      primary,
      previous,
      envelope.nonce,
      envelope.ct,
      envelope.tag,
      'access-secret',
      'secret-format',
    ];
    for (const error of failures) {
      expect(error.cause).toBeUndefined();
      for (const secret of secrets) {
        expect(`${error.message} ${String(error.stack)}`).not.toContain(secret);
      }
    }
  });
});
