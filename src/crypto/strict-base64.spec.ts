import fc from 'fast-check';
import { decodeStrictBase64 } from './strict-base64';

/** An oracle independent of Node's codec: alphabet, padding, and zero bits before the padding. */
const CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$/;
const base64ish = fc.constantFrom(...'ABQgwz09+/=-_ \n\t.'.split(''));

describe('decodeStrictBase64', () => {
  it('decodes the standard base64 of any bytes back to those bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(decodeStrictBase64(Buffer.from(bytes).toString('base64'))).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts a string exactly when it is canonical standard base64', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: base64ish, maxLength: 12 }), fc.string()), (text) => {
        const decoded = decodeStrictBase64(text);
        expect(decoded !== undefined).toBe(CANONICAL.test(text));
        accepted += decoded === undefined ? 0 : 1;
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('agrees with decoding, encoding again and comparing, on text of whole quads', () => {
    const quads = fc.array(fc.string({ unit: base64ish, minLength: 4, maxLength: 4 }), { maxLength: 4 });
    fc.assert(
      fc.property(quads, (parts) => {
        const text = parts.join('');
        const bytes = Buffer.from(text, 'base64');
        const canonical = bytes.toString('base64') === text;
        expect(decodeStrictBase64(text)).toEqual(canonical ? bytes : undefined);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['the url-safe alphabet', '-_-_'],
    ['missing padding', 'AAE'],
    ['extra padding', 'AAE=='],
    ['padding in the middle', 'AA==AAAA'],
    ['inner whitespace', 'AAAA AAAA'],
    ['a trailing newline', 'AAAA\n'],
    ['non-zero bits before the padding', 'AB=='],
    ['a non-ASCII character', 'AAÀA'],
    ['a lone padding quad', '===='],
    ['padding after one character', 'A==='],
  ])('rejects %s', (_, text) => {
    expect(decodeStrictBase64(text)).toBeUndefined();
  });

  it('accepts the empty string as zero bytes', () => {
    expect(decodeStrictBase64('')).toEqual(Buffer.alloc(0));
  });
});
