import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { generateKey, KeyMaterialError, KeyRing } from './key-ring';

const PRIMARY = 'primary';
const PREVIOUS = 'previous';
const SECONDARY = 'secondary';
const KEY_RULE = 'must be standard base64 of exactly 32 bytes (openssl rand -base64 32)';

const newKey = (bytes = 32): string => randomBytes(bytes).toString('base64');

/** A fresh key whose base64 text contains '+' or '/', so it has a url-safe spelling. */
function keyWithUrlUnsafeCharacters(): string {
  for (;;) {
    const key = newKey();
    if (/[+/]/.test(key)) {
      return key;
    }
  }
}

function keyMaterialErrorFor(settings: Parameters<typeof KeyRing.fromSettings>[0]): KeyMaterialError {
  try {
    KeyRing.fromSettings(settings);
  } catch (error) {
    expect(error).toBeInstanceOf(KeyMaterialError);
    return error as KeyMaterialError;
  }
  throw new Error('expected a KeyMaterialError');
}

function expectedKeyId(base64Key: string): string {
  const hmac = createHmac('sha256', Buffer.from(base64Key, 'base64'));
  return hmac.update('connectors-backend/key-id/v1').digest('hex').slice(0, 16);
}

describe('KeyRing.fromSettings', () => {
  it('accepts a standard base64 key of 32 bytes and ids it by HMAC-SHA256 over a fixed label', () => {
    const key = newKey();
    const ring = KeyRing.fromSettings({ primary: key });
    expect(ring.primaryKeyId).toBe(expectedKeyId(key));
    expect(ring.primary?.kid).toMatch(/^[0-9a-f]{16}$/);
    expect(ring.keyIds()).toEqual([expectedKeyId(key)]);
  });

  it.each([undefined, '', '   \n'])('has no primary key when the primary setting is %j', (primary) => {
    const ring = KeyRing.fromSettings({ primary });
    expect(ring.primary).toBeUndefined();
    expect(ring.primaryKeyId).toBeUndefined();
    expect(ring.keyIds()).toEqual([]);
  });

  it('trims whitespace around the primary key and around each listed key', () => {
    const [primary, first, second] = [newKey(), newKey(), newKey()];
    const ring = KeyRing.fromSettings({ primary: `  ${primary}\n`, previous: ` ${first} ,\t${second}\n` });
    expect(ring.keyIds()).toEqual([primary, first, second].map(expectedKeyId));
  });

  const badKeys: Array<[string, () => string]> = [
    ['31 bytes', () => newKey(31)],
    ['33 bytes', () => newKey(33)],
    ['16 bytes', () => newKey(16)],
    ['the url-safe alphabet', () => keyWithUrlUnsafeCharacters().replace(/\+/g, '-').replace(/\//g, '_')],
    ['missing padding', () => newKey().replace(/=+$/, '')],
    ['extra padding', () => `${newKey()}=`],
    ['inner whitespace', () => `${newKey().slice(0, 20)} ${newKey().slice(20)}`],
    ['non-zero padding bits', () => `${newKey().slice(0, 42)}B=`],
    ['hex instead of base64', () => randomBytes(32).toString('hex')],
    ['a passphrase', () => 'correct horse battery staple'],
  ];

  it.each(badKeys)('rejects a primary key with %s, naming the setting but not the value', (_, make) => {
    const value = make();
    const error = keyMaterialErrorFor({ primary: value });
    expect(error.setting).toBe(PRIMARY);
    expect(error.message).toBe(`${PRIMARY}: ${KEY_RULE}`);
    expect(error.message).not.toContain(value.trim());
  });

  it('names the 1-based position of a bad previous key and none of the values', () => {
    const [good, bad, other] = [newKey(), newKey(31), newKey()];
    const error = keyMaterialErrorFor({ primary: newKey(), previous: `${good},${bad},${other}` });
    expect(error.setting).toBe(`${PREVIOUS}[2]`);
    for (const value of [good, bad, other]) {
      expect(error.message).not.toContain(value);
    }
  });

  it.each([
    ['a doubled comma', (k: string) => `${k},,${k}`, 2],
    ['a trailing comma', (k: string) => `${k},`, 2],
    ['a leading comma', (k: string) => `,${k}`, 1],
    ['a blank entry', (k: string) => `${k},  ,${newKey()}`, 2],
  ])('rejects %s in the previous key list', (_, make, position) => {
    const error = keyMaterialErrorFor({ previous: make(newKey()) });
    expect(error.setting).toBe(`${PREVIOUS}[${position}]`);
    expect(error.rule).toMatch(/must not be empty/);
  });

  it('names JOBS_CRYPTO_SECONDARY_KEY when the secondary key is bad', () => {
    const error = keyMaterialErrorFor({ primary: newKey(), secondary: 'not-a-key' });
    expect(error.setting).toBe(SECONDARY);
  });

  it('collapses duplicate keys and a primary that is also listed as previous', () => {
    const [primary, old] = [newKey(), newKey()];
    const ring = KeyRing.fromSettings({ primary, previous: `${old},${primary},${old}`, secondary: old });
    expect(ring.keyIds()).toEqual([expectedKeyId(primary), expectedKeyId(old)]);
    expect(ring.previousKeyIds()).toEqual([expectedKeyId(old)]);
  });

  it('lists the primary first, then previous keys in order, then the secondary key', () => {
    const [primary, first, second, secondary] = [newKey(), newKey(), newKey(), newKey()];
    const ring = KeyRing.fromSettings({ primary, previous: `${first},${second}`, secondary });
    expect(ring.keyIds()).toEqual([primary, first, second, secondary].map(expectedKeyId));
    expect(ring.previousKeyIds()).toEqual([first, second, secondary].map(expectedKeyId));
    expect(ring.decryptionKeys()).toHaveLength(4);
  });

  it('gives the same key the same id on every instance, and different keys different ids', () => {
    const [key, other] = [newKey(), newKey()];
    const idOf = (primary: string) => KeyRing.fromSettings({ primary }).primaryKeyId;
    expect(idOf(key)).toBe(idOf(key));
    expect(idOf(other)).not.toBe(idOf(key));
  });

  it('knows the ids of its keys and no other', () => {
    const [primary, old] = [newKey(), newKey()];
    const ring = KeyRing.fromSettings({ primary, previous: old });
    expect(ring.keyFor(expectedKeyId(primary))).toBeDefined();
    expect(ring.keyFor(expectedKeyId(old))).toBeDefined();
    expect(ring.keyFor(expectedKeyId(newKey()))).toBeUndefined();
  });

  it('shows only key ids in JSON, inspect and string forms', () => {
    const [primary, old] = [newKey(), newKey()];
    const ring = KeyRing.fromSettings({ primary, previous: old });
    const renderings = [
      JSON.stringify(ring),
      JSON.stringify({ nested: ring, primary: ring.primary }),
      inspect(ring, { depth: Infinity, showHidden: true }),
      inspect(ring.primary, { depth: Infinity, showHidden: true }),
      String(ring),
    ];
    for (const text of renderings) {
      for (const key of [primary, old]) {
        expect(text).not.toContain(key);
        expect(text).not.toContain(Buffer.from(key, 'base64').toString('hex'));
      }
    }
    expect(JSON.parse(JSON.stringify(ring))).toEqual({
      primaryKeyId: expectedKeyId(primary),
      previousKeyIds: [expectedKeyId(old)],
    });
    expect(inspect(ring)).toContain(expectedKeyId(old));
  });

  it('accepts any 32 random bytes in standard base64 and rejects any other length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64');
        if (bytes.length === 32) {
          expect(KeyRing.fromSettings({ primary: text }).primaryKeyId).toBe(expectedKeyId(text));
        } else if (bytes.length > 0) {
          expect(keyMaterialErrorFor({ primary: text }).setting).toBe(PRIMARY);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('answers any rejected value with the fixed rule, never the value', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), (text) => {
        fc.pre(text.trim().length > 0);
        const error = keyMaterialErrorFor({ primary: text });
        expect(error.message).toBe(`${PRIMARY}: ${KEY_RULE}`);
      }),
      { numRuns: 500 },
    );
  });
});

describe('generateKey', () => {
  it('returns a fresh 32-byte standard base64 key with the id the key ring gives it', () => {
    const first = generateKey();
    const second = generateKey();
    expect(Buffer.from(first.key, 'base64')).toHaveLength(32);
    expect(Buffer.from(first.key, 'base64').toString('base64')).toBe(first.key);
    expect(first.kid).toBe(expectedKeyId(first.key));
    expect(KeyRing.fromSettings({ primary: first.key }).primaryKeyId).toBe(first.kid);
    expect(second.key).not.toBe(first.key);
  });
});
