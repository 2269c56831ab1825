import { randomBytes } from 'node:crypto';
import { formatV2 } from './envelope-v2.layout';
import { parseEnvelope } from './envelope.codec';

describe('parseEnvelope', () => {
  const parts = { nonce: randomBytes(12), ct: randomBytes(300), tag: randomBytes(16) };
  const stored = formatV2('0123456789abcdef', parts.nonce, parts.ct, parts.tag);

  afterEach(() => jest.restoreAllMocks());

  it('reads the envelopes this service writes without JSON.parse', () => {
    const parse = jest.spyOn(JSON, 'parse');
    expect(parseEnvelope(stored)).toEqual({ format: 'v2', kid: '0123456789abcdef', ...parts });
    expect(parse).not.toHaveBeenCalled();
  });

  it('reads the same envelope written with other spacing through JSON.parse, to the same result', () => {
    const parse = jest.spyOn(JSON, 'parse');
    const respaced = JSON.stringify(JSON.parse(stored), null, 1);
    parse.mockClear();
    expect(parseEnvelope(respaced)).toEqual(parseEnvelope(stored));
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['an upper-case kid', (text: string) => text.replace('0123456789abcdef', '0123456789ABCDEF')],
    ['a url-safe ciphertext', (text: string) => text.replace('"ct":"', '"ct":"-_')],
    ['a short tag', (text: string) => text.replace(/"tag":"[^"]*"/, '"tag":"AAAA"')],
    ['a padded nonce', (text: string) => text.replace(/"nonce":"[^"]*"/, '"nonce":"AAAAAAAAAAAAAA=="')],
  ])('rejects %s in the canonical layout exactly as in any other layout', (_, alter) => {
    const canonical = alter(stored);
    const respaced = JSON.stringify(JSON.parse(canonical), null, 1);
    expect(() => parseEnvelope(canonical)).toThrow(errorOf(() => parseEnvelope(respaced)));
  });
});

function errorOf(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
