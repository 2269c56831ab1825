import fc from 'fast-check';
import { jsonText } from './json-text';

/** Long strings of the characters that matter: escaped ones, ASCII, and beyond. */
const longString = fc.string({
  unit: fc.oneof(
    { weight: 20, arbitrary: fc.constantFrom(...'AZaz09-_.~+/='.split('')) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '\ud83d', '😀'),
    },
  ),
  minLength: 250,
  maxLength: 400,
});

describe('jsonText', () => {
  it('writes what JSON.stringify writes, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(jsonText(value)).toBe(JSON.stringify(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes what JSON.stringify writes for token sets with long strings, escaped or not', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.oneof(longString, fc.jsonValue(), fc.constant(undefined))),
        longString,
        (extra, idToken) => {
          const tokens = { access_token: 'ya29.a', id_token: idToken, ...extra, expires_in: 3599 };
          expect(jsonText(tokens)).toBe(JSON.stringify(tokens));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('leaves to JSON.stringify what it would treat otherwise: toJSON, class instances, arrays', () => {
    const when = new Date('2030-01-01T00:00:00Z');
    class Tokens {
      access_token = 'x'.repeat(300);
    }
    const values: unknown[] = [
      { at: when, id_token: 'y'.repeat(300) },
      { toJSON: (key: string) => `key ${key}` },
      { nested: { toJSON: (key: string) => `key ${key}` } },
      new Tokens(),
      ['z'.repeat(300)],
      Object.assign(Object.create(null) as object, { id_token: 'w'.repeat(300) }),
      undefined,
      'v'.repeat(300),
    ];
    for (const value of values) expect(jsonText(value)).toBe(JSON.stringify(value));
  });
});
