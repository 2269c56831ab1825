import { randomBytes } from 'node:crypto';
import {
  FORMAT_V1,
  FORMAT_V2,
  FORMAT_V3,
  formatEnvelope,
  inspectEnvelope,
  parseEnvelope,
} from './envelope.codec';
import { EnvelopeMalformedError } from './envelope.errors';

const KID = '0123456789abcdef';

describe.each([
  ['v3', FORMAT_V3],
  ['v2', FORMAT_V2],
] as const)('parseEnvelope and inspectEnvelope with %s', (format, enc) => {
  const parts = { nonce: randomBytes(12), ct: randomBytes(300), tag: randomBytes(16) };
  const stored = formatEnvelope(enc, KID, parts.nonce, parts.ct, parts.tag);

  afterEach(() => jest.restoreAllMocks());

  it('writes the canonical layout, which JSON reads as the same five fields', () => {
    expect(JSON.parse(stored)).toEqual({
      _enc: enc,
      kid: KID,
      nonce: parts.nonce.toString('base64'),
      ct: parts.ct.toString('base64'),
      tag: parts.tag.toString('base64'),
    });
  });

  it('reads the envelopes this service writes without JSON.parse', () => {
    const parse = jest.spyOn(JSON, 'parse');
    expect(parseEnvelope(stored)).toEqual({ format, kid: KID, ...parts });
    expect(parse).not.toHaveBeenCalled();
  });

  it('tells the format and key id of the canonical layout without JSON.parse', () => {
    const parse = jest.spyOn(JSON, 'parse');
    expect(inspectEnvelope(stored)).toEqual({ format, kid: KID });
    expect(parse).not.toHaveBeenCalled();
  });

  it('reads the same envelope written with other spacing through JSON.parse, to the same result', () => {
    const parse = jest.spyOn(JSON, 'parse');
    const respaced = JSON.stringify(JSON.parse(stored), null, 1);
    parse.mockClear();
    expect(parseEnvelope(respaced)).toEqual(parseEnvelope(stored));
    expect(parse).toHaveBeenCalledTimes(1);
    parse.mockClear();
    expect(inspectEnvelope(respaced)).toEqual(inspectEnvelope(stored));
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['an upper-case kid', (text: string) => text.replace(KID, '0123456789ABCDEF')],
    ['a url-safe ciphertext', (text: string) => text.replace('"ct":"', '"ct":"-_')],
    ['a short tag', (text: string) => text.replace(/"tag":"[^"]*"/, '"tag":"AAAA"')],
    ['a padded nonce', (text: string) => text.replace(/"nonce":"[^"]*"/, '"nonce":"AAAAAAAAAAAAAA=="')],
  ])('rejects %s in the canonical layout exactly as in any other layout', (_, alter) => {
    const canonical = alter(stored);
    const respaced = JSON.stringify(JSON.parse(canonical), null, 1);
    expect(() => parseEnvelope(canonical)).toThrow(errorOf(() => parseEnvelope(respaced)));
    expect(outcomeOf(() => inspectEnvelope(canonical))).toEqual(outcomeOf(() => inspectEnvelope(respaced)));
  });
});

describe('parseEnvelope with a v1 label in the canonical layout', () => {
  // v1 carries no key id, so the five-field layout is not a v1 envelope on either path.
  it('refuses it as malformed, as the general parser does', () => {
    const stored = formatEnvelope(FORMAT_V1, KID, randomBytes(12), randomBytes(30), randomBytes(16));
    const respaced = JSON.stringify(JSON.parse(stored), null, 1);
    expect(() => parseEnvelope(stored)).toThrow(EnvelopeMalformedError);
    expect(() => parseEnvelope(stored)).toThrow(errorOf(() => parseEnvelope(respaced)));
  });
});

describe('inspectEnvelope on the canonical layout with members hidden in a field', () => {
  const nonce = randomBytes(12).toString('base64');
  const ct = randomBytes(40).toString('base64');
  const tag = randomBytes(16).toString('base64');
  const other = 'fedcba9876543210';

  it.each([
    [
      'a second kid',
      `{"_enc":"aesgcm:v3","kid":"${KID}","nonce":"${nonce}","ct":"x","kid":"${other}","ct":"${ct}","tag":"${tag}"}`,
    ],
    [
      'a second _enc',
      `{"_enc":"aesgcm:v3","kid":"${KID}","nonce":"${nonce}","ct":"x","_enc":"aesgcm:v2","ct":"${ct}","tag":"${tag}"}`,
    ],
    [
      'an escaped quote',
      `{"_enc":"aesgcm:v3","kid":"${KID}","nonce":"${nonce}","ct":"a\\","kid":"${other}","tag":"${tag}"}`,
    ],
  ])('tells what the envelope opens as when a field holds %s', (_name, text) => {
    const parsed = outcomeOf(() => {
      const envelope = parseEnvelope(text);
      return envelope.format === 'v1' ? { format: 'v1' } : { format: envelope.format, kid: envelope.kid };
    });
    const inspected = outcomeOf(() => inspectEnvelope(text));
    if ('error' in (parsed as object)) expect(inspected).not.toEqual({ value: { format: 'v3', kid: KID } });
    else expect(inspected).toEqual(parsed);
  });
});

function outcomeOf(action: () => unknown): unknown {
  try {
    return { value: action() };
  } catch (error) {
    return { error };
  }
}

function errorOf(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
