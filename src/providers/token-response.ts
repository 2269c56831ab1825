/** As deep as JSON stored from a caller may nest (isStorableJson). */
const MAX_JSON_DEPTH = 32;

/** A provider's token endpoint body larger than this is refused unread past it. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

/** Keys that mean something to JavaScript objects: refused in request bodies, refused from providers. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
// A CR or LF in a token served to a caller is a header injection; no control character is kept.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const CONTROL = /[\u0000-\u001f\u007f]/;
const HEADER_FIELDS = ['access_token', 'refresh_token', 'token_type'] as const;
const WHOLE_NUMBER = /^\d{1,12}$/;
const NUMBER_FIELDS = ['expires_in', 'expires_at'] as const;

/** Why a provider's body is not a token set; one code for all, the body itself is never quoted. */
export class InvalidTokenResponse extends Error {
  constructor() {
    super('invalid_response');
  }
}

/**
 * The body's stream, read up to `limit` bytes as decoded: a declared or actual larger body is
 * cancelled there, so neither a large body nor a compressed one costs more than the limit.
 * Undefined when the body was too large.
 */
export async function readLimited(response: Response, limit = MAX_RESPONSE_BYTES) {
  const declared = response.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limit) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** True when no array or object in the JSON text nests deeper than `max`, counted before parsing. */
export function jsonNestingWithin(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index += 1;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) {
      depth += 1;
      if (depth > max) return false;
    } else if (char === 0x7d || char === 0x5d) depth -= 1;
  }
  return true;
}

function hasReservedKey(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasReservedKey);
  return Object.keys(value).some(
    (key) => RESERVED_KEYS.has(key) || hasReservedKey((value as Record<string, unknown>)[key]),
  );
}

function formObjectOf(text: string): Record<string, unknown> | undefined {
  const object: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    // A member sent twice has no one meaning.
    if (Object.hasOwn(object, key)) return undefined;
    object[key] = value;
  }
  return object;
}

function jsonObjectOf(text: string): Record<string, unknown> | undefined {
  if (!jsonNestingWithin(text)) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    // The body is not JSON: it is described by a code, never quoted (it may echo a token).
    return undefined;
  }
}

/**
 * A token endpoint's body as an object: JSON, or `application/x-www-form-urlencoded` as some
 * providers answer. Undefined when it is neither, nests too deep, or uses a reserved key.
 */
export function bodyObjectOf(text: string, contentType: string | null) {
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const object = mediaType === 'application/x-www-form-urlencoded' ? formObjectOf(text) : jsonObjectOf(text);
  return object === undefined || hasReservedKey(object) ? undefined : object;
}

/**
 * A successful token response as the service keeps it: whole numbers sent as strings are
 * numbers, `token_type` is `Bearer` whatever its case (and when absent), a null or empty
 * `refresh_token` is absent (the stored one is kept), members the provider adds are kept.
 * Throws InvalidTokenResponse when it cannot be a token set.
 */
export function tokenResponseOf(body: Record<string, unknown>): Record<string, unknown> {
  const tokens: Record<string, unknown> = { ...body };
  if (typeof tokens.access_token !== 'string' || tokens.access_token.length === 0)
    throw new InvalidTokenResponse();
  for (const field of NUMBER_FIELDS) {
    const value = tokens[field];
    if (typeof value === 'string' && WHOLE_NUMBER.test(value.trim())) tokens[field] = Number(value);
  }
  if (tokens.refresh_token === null || tokens.refresh_token === '') delete tokens.refresh_token;
  if (tokens.token_type === undefined || tokens.token_type === null) tokens.token_type = 'Bearer';
  else if (typeof tokens.token_type === 'string' && tokens.token_type.toLowerCase() === 'bearer')
    tokens.token_type = 'Bearer';
  for (const field of HEADER_FIELDS) {
    const value = tokens[field];
    if (value !== undefined && (typeof value !== 'string' || CONTROL.test(value)))
      throw new InvalidTokenResponse();
  }
  return tokens;
}
