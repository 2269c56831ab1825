import { NONCE_BYTES, TAG_BYTES } from './aead';
import { EnvelopeMalformedError, EnvelopeUnsupportedFormatError } from './envelope.errors';
import { decodeStrictBase64 } from './strict-base64';

/** v3 is written; v2 (bound to the account only) and v1 (the Python service's) are read. */
export const FORMAT_V1 = 'aesgcm:v1';
export const FORMAT_V2 = 'aesgcm:v2';
export const FORMAT_V3 = 'aesgcm:v3';

export type KeyedFormat = 'v3' | 'v2';

export type EnvelopeInfo = { format: KeyedFormat; kid: string } | { format: 'v1' } | { format: 'plaintext' };

export interface EnvelopeParts {
  nonce: Buffer;
  ct: Buffer;
  tag: Buffer;
}

export type ParsedEnvelope = ({ format: KeyedFormat; kid: string } | { format: 'v1' }) & EnvelopeParts;

type JsonObject = Record<string, unknown>;
type EnvelopeFormat = Exclude<EnvelopeInfo, { format: 'plaintext' }>;

const PLAINTEXT = Object.freeze({ format: 'plaintext' as const });
const V1_FORMAT = Object.freeze({ format: 'v1' as const });
const KEYED_FORMATS: ReadonlyMap<unknown, KeyedFormat> = new Map([
  [FORMAT_V3, 'v3'],
  [FORMAT_V2, 'v2'],
]);
const V1_FIELD_COUNT = 4;
const KEYED_FIELD_COUNT = 5;
const KEY_ID = /^[0-9a-f]{16}$/;
const OPEN_BRACE = 0x7b;
/** Text that starts with a brace but is not JSON. */
const NOT_JSON = null;
/** `"_enc"` with any of its characters written as a JSON `\\u` escape, as a JSON writer may. */
const NAMES_ENVELOPE = /"(?:_|\\u005[fF])(?:e|\\u0065)(?:n|\\u006[eE])(?:c|\\u0063)"/;

/**
 * The exact text `formatEnvelope` writes, as fixed pieces around its fields. Base64 and hex never
 * need JSON escaping, so the envelope is built and cut as a string.
 */
const HEAD_START = '{"_enc":"';
const FORMAT_CHARS = FORMAT_V3.length;
const KID_KEY = '","kid":"';
const NONCE_KEY = '","nonce":"';
const CT_KEY = '","ct":"';
const TAG_KEY = '","tag":"';
const END = '"}';
const KID_AT = HEAD_START.length + FORMAT_CHARS + KID_KEY.length;
const KID_CHARS = 16;
const NONCE_CHARS = 16;
const TAG_CHARS = 24;
const NONCE_AT = KID_AT + KID_CHARS + NONCE_KEY.length;
const CT_AT = NONCE_AT + NONCE_CHARS + CT_KEY.length;
const TAIL_CHARS = TAG_KEY.length + TAG_CHARS + END.length;

interface LayoutFields {
  enc: string;
  kid: string;
  nonce: string;
  ct: string;
  tag: string;
}

export function formatEnvelope(enc: string, kid: string, nonce: Buffer, ct: Buffer, tag: Buffer): string {
  return (
    HEAD_START +
    enc +
    KID_KEY +
    kid +
    NONCE_KEY +
    nonce.toString('base64') +
    CT_KEY +
    ct.toString('base64') +
    TAG_KEY +
    tag.toString('base64') +
    END
  );
}

/** Tells the format and key id without decrypting; throws only for an unknown or damaged `_enc`. */
export function inspectEnvelope(stored: string | null | undefined): EnvelopeInfo {
  if (typeof stored !== 'string') return PLAINTEXT;
  const fields = splitLayout(stored);
  const format = fields && KEYED_FORMATS.get(fields.enc);
  if (format && KEY_ID.test(fields.kid)) return { format, kid: fields.kid };
  const object = parseJsonObject(stored);
  if (object === NOT_JSON) {
    // Damaged JSON that names `_enc`, however its key is spelled, is a damaged envelope: handing
    // it on as a plaintext token would return ciphertext.
    if (NAMES_ENVELOPE.test(stored)) throw new EnvelopeMalformedError('not valid JSON');
    return PLAINTEXT;
  }
  if (object === undefined || !Object.hasOwn(object, '_enc')) return PLAINTEXT;
  return describe(object);
}

/**
 * The envelopes this service writes take a fast path without JSON.parse; it is used only when
 * every field validates, so it accepts exactly what the general parser accepts.
 */
export function parseEnvelope(stored: string): ParsedEnvelope {
  const fields = typeof stored === 'string' ? splitLayout(stored) : undefined;
  return (fields && decodeCanonical(fields)) ?? parseAnyEnvelope(stored);
}

/**
 * Cuts text in the canonical layout into its fields; undefined for any other layout. A field
 * with a quote or a backslash could hide more JSON members (a second `kid` or `_enc`, which
 * JSON.parse would take), so such text takes the general path.
 */
function splitLayout(text: string): LayoutFields | undefined {
  const tailAt = text.length - TAIL_CHARS;
  const matches =
    tailAt >= CT_AT &&
    text.startsWith(HEAD_START) &&
    text.startsWith(KID_KEY, HEAD_START.length + FORMAT_CHARS) &&
    text.startsWith(NONCE_KEY, KID_AT + KID_CHARS) &&
    text.startsWith(CT_KEY, NONCE_AT + NONCE_CHARS) &&
    text.startsWith(TAG_KEY, tailAt) &&
    text.endsWith(END);
  if (!matches) return undefined;
  const fields = {
    enc: text.slice(HEAD_START.length, HEAD_START.length + FORMAT_CHARS),
    kid: text.slice(KID_AT, KID_AT + KID_CHARS),
    nonce: text.slice(NONCE_AT, NONCE_AT + NONCE_CHARS),
    ct: text.slice(CT_AT, tailAt),
    tag: text.slice(tailAt + TAG_KEY.length, text.length - END.length),
  };
  const plain = (field: string) => !field.includes('"') && !field.includes('\\');
  return plain(fields.enc) && plain(fields.nonce) && plain(fields.ct) && plain(fields.tag)
    ? fields
    : undefined;
}

function decodeCanonical(fields: LayoutFields): ParsedEnvelope | undefined {
  const format = KEYED_FORMATS.get(fields.enc);
  const nonce = decodeStrictBase64(fields.nonce);
  const ct = decodeStrictBase64(fields.ct);
  const tag = decodeStrictBase64(fields.tag);
  const valid =
    format && KEY_ID.test(fields.kid) && nonce?.length === NONCE_BYTES && ct && tag?.length === TAG_BYTES;
  return valid ? { format, kid: fields.kid, nonce, ct, tag } : undefined;
}

function parseAnyEnvelope(stored: string): ParsedEnvelope {
  const object = typeof stored === 'string' ? parseJsonObject(stored) : undefined;
  if (!object || !Object.hasOwn(object, '_enc')) {
    throw new EnvelopeMalformedError();
  }
  const format = describe(object);
  const expectedFields = format.format === 'v1' ? V1_FIELD_COUNT : KEYED_FIELD_COUNT;
  if (Object.keys(object).length !== expectedFields) {
    throw new EnvelopeMalformedError('unexpected fields');
  }
  const parts = {
    nonce: decodeField(object.nonce, 'nonce', NONCE_BYTES),
    ct: decodeField(object.ct, 'ct'),
    tag: decodeField(object.tag, 'tag', TAG_BYTES),
  };
  return { ...format, ...parts };
}

function describe(object: JsonObject): EnvelopeFormat {
  if (object._enc === FORMAT_V1) return V1_FORMAT;
  const format = KEYED_FORMATS.get(object._enc);
  if (format === undefined) throw new EnvelopeUnsupportedFormatError();
  if (typeof object.kid !== 'string' || !KEY_ID.test(object.kid)) {
    throw new EnvelopeMalformedError('kid must be 16 lowercase hex characters');
  }
  return { format, kid: object.kid };
}

/**
 * The object a text holds; undefined for text that does not start with a brace, NOT_JSON for
 * text that does but does not parse. Most stored plaintext tokens are not JSON: one character
 * test avoids a parse and its exception.
 */
function parseJsonObject(text: string): JsonObject | undefined | typeof NOT_JSON {
  const first = text.charCodeAt(0) === OPEN_BRACE ? OPEN_BRACE : text.trimStart().charCodeAt(0);
  if (first !== OPEN_BRACE) {
    return undefined;
  }
  try {
    // JSON text that starts with a brace can only be an object.
    return JSON.parse(text) as JsonObject;
  } catch {
    return NOT_JSON;
  }
}

function decodeField(value: unknown, field: string, bytes?: number): Buffer {
  const decoded = typeof value === 'string' ? decodeStrictBase64(value) : undefined;
  if (decoded === undefined) {
    throw new EnvelopeMalformedError(`${field} must be a standard base64 string`);
  }
  if (bytes !== undefined && decoded.length !== bytes) {
    throw new EnvelopeMalformedError(`${field} must be ${bytes} bytes`);
  }
  return decoded;
}
