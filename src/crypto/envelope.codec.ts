import { NONCE_BYTES, TAG_BYTES } from './aead';
import { splitV2, V2TextFields } from './envelope-v2.layout';
import { EnvelopeMalformedError, EnvelopeUnsupportedFormatError } from './envelope.errors';
import { EnvelopeInfo, FORMAT_V1, FORMAT_V2 } from './envelope.formats';
import { decodeStrictBase64 } from './strict-base64';

export type { EnvelopeInfo } from './envelope.formats';

export interface EnvelopeParts {
  nonce: Buffer;
  ct: Buffer;
  tag: Buffer;
}

export type ParsedEnvelope = ({ format: 'v2'; kid: string } | { format: 'v1' }) & EnvelopeParts;

type JsonObject = Record<string, unknown>;
type EnvelopeFormat = { format: 'v2'; kid: string } | { format: 'v1' };

const PLAINTEXT = Object.freeze({ format: 'plaintext' as const });
const V1_FORMAT = Object.freeze({ format: 'v1' as const });
const V1_FIELD_COUNT = 4;
const V2_FIELD_COUNT = 5;
const KEY_ID = /^[0-9a-f]{16}$/;
const OPEN_BRACE = 0x7b;

export function inspectEnvelope(stored: string | null | undefined): EnvelopeInfo {
  const object = typeof stored === 'string' ? parseJsonObject(stored) : undefined;
  if (object === undefined || !Object.hasOwn(object, '_enc')) {
    return PLAINTEXT;
  }
  return describe(object);
}

/**
 * The envelopes this service writes take a fast path without JSON.parse; it is used only when
 * every field validates, so it accepts exactly what the general parser accepts.
 */
export function parseEnvelope(stored: string): ParsedEnvelope {
  const fields = typeof stored === 'string' ? splitV2(stored) : undefined;
  return (fields && decodeCanonicalV2(fields)) ?? parseAnyEnvelope(stored);
}

function decodeCanonicalV2(fields: V2TextFields): ParsedEnvelope | undefined {
  const nonce = decodeStrictBase64(fields.nonce);
  const ct = decodeStrictBase64(fields.ct);
  const tag = decodeStrictBase64(fields.tag);
  const valid =
    KEY_ID.test(fields.kid) && nonce?.length === NONCE_BYTES && ct && tag?.length === TAG_BYTES;
  return valid ? { format: 'v2', kid: fields.kid, nonce, ct, tag } : undefined;
}

function parseAnyEnvelope(stored: string): ParsedEnvelope {
  const object = typeof stored === 'string' ? parseJsonObject(stored) : undefined;
  if (object === undefined || !Object.hasOwn(object, '_enc')) {
    throw new EnvelopeMalformedError();
  }
  const format = describe(object);
  const expectedFields = format.format === 'v2' ? V2_FIELD_COUNT : V1_FIELD_COUNT;
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
  if (object._enc === FORMAT_V2) {
    if (typeof object.kid !== 'string' || !KEY_ID.test(object.kid)) {
      throw new EnvelopeMalformedError('kid must be 16 lowercase hex characters');
    }
    return { format: 'v2', kid: object.kid };
  }
  if (object._enc === FORMAT_V1) {
    return V1_FORMAT;
  }
  throw new EnvelopeUnsupportedFormatError();
}

/** Most stored plaintext tokens are not JSON: one character test avoids a parse and its exception. */
function parseJsonObject(text: string): JsonObject | undefined {
  const first = text.charCodeAt(0) === OPEN_BRACE ? OPEN_BRACE : text.trimStart().charCodeAt(0);
  if (first !== OPEN_BRACE) {
    return undefined;
  }
  try {
    // JSON text that starts with a brace can only be an object.
    return JSON.parse(text) as JsonObject;
  } catch {
    // Not JSON at all: a plaintext token that happens to start with a brace.
    return undefined;
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
