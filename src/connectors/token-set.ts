import { isStorableText, STORABLE_TEXT_RULE } from './storable-text';

/** What the service stores for an account: the provider's token response, extra fields included. */
export interface TokenSet {
  access_token: string;
  refresh_token?: string | null;
  token_type?: string;
  expires_in?: number;
  expires_at?: number;
  scope?: string;
  [extra: string]: unknown;
}

export const MAX_TOKEN_LENGTH = 8192;
export const MAX_EXTRA_FIELDS = 32;
export const MAX_EXTRA_FIELD_BYTES = 8192;
const MAX_EXPIRES_IN = 10 * 365 * 24 * 3600;
// 9999-12-31T23:59:59Z: later instants do not fit the token_expires_at column.
const MAX_EXPIRES_AT = 253_402_300_799;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
// Error details name an extra field only when it cannot be a token pasted as a key.
const NAMEABLE_FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;

type FieldCheck = (value: unknown) => string | undefined;

const optionalString =
  (max: number): FieldCheck =>
  (value) => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.length > max)
      return `must be a string of at most ${max} characters`;
    return isStorableText(value) ? undefined : STORABLE_TEXT_RULE;
  };

const KNOWN_FIELDS: Record<string, FieldCheck> = {
  access_token: (value) => {
    if (typeof value !== 'string' || value.length < 1 || value.length > MAX_TOKEN_LENGTH) {
      return `must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`;
    }
    return isStorableText(value) ? undefined : STORABLE_TEXT_RULE;
  },
  refresh_token: (value) => (value === null ? undefined : optionalString(MAX_TOKEN_LENGTH)(value)),
  token_type: optionalString(64),
  scope: optionalString(4096),
  expires_in: (value) =>
    value === undefined ||
    (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_EXPIRES_IN)
      ? undefined
      : `must be an integer number of seconds between 0 and ${MAX_EXPIRES_IN}`,
  expires_at: (value) =>
    value === undefined ||
    (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_EXPIRES_AT)
      ? undefined
      : 'must be a Unix time in whole seconds before the year 10000',
};

function extraFieldErrors(name: string, value: unknown, path: string): string[] {
  if (!FIELD_NAME.test(name))
    return [`${path}: extra field names must be identifiers of at most 64 characters`];
  const encoded = JSON.stringify(value);
  if (encoded === undefined || Buffer.byteLength(encoded) > MAX_EXTRA_FIELD_BYTES) {
    const field = NAMEABLE_FIELD.test(name) ? `${path}.${name}` : `${path}.<extra field>`;
    return [`${field}: must be a JSON value of at most ${MAX_EXTRA_FIELD_BYTES} bytes`];
  }
  return [];
}

/**
 * Every rule a token set breaks, as `path.field: rule`. Values are never repeated: they are
 * secrets. Unknown fields are kept (providers add their own) within bounds.
 */
export function tokenSetErrors(value: unknown, path: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [`${path}: must be an object`];
  const entries = Object.entries(value);
  const errors: string[] = [];
  for (const [field, check] of Object.entries(KNOWN_FIELDS)) {
    const rule = check((value as Record<string, unknown>)[field]);
    if (rule) errors.push(`${path}.${field}: ${rule}`);
  }
  const extras = entries.filter(([field]) => !(field in KNOWN_FIELDS));
  if (extras.length > MAX_EXTRA_FIELDS) errors.push(`${path}: at most ${MAX_EXTRA_FIELDS} extra fields`);
  for (const [field, inner] of extras.slice(0, MAX_EXTRA_FIELDS))
    errors.push(...extraFieldErrors(field, inner, path));
  return errors;
}

/** Fills `expires_at` from `expires_in` when the provider gave only the latter. */
export function normalizeTokenSet(tokens: TokenSet, now: Date = new Date()): TokenSet {
  const normalized: TokenSet = { ...tokens };
  if (normalized.expires_at === undefined && normalized.expires_in !== undefined) {
    normalized.expires_at = Math.floor(now.getTime() / 1000) + normalized.expires_in;
  }
  return normalized;
}

/** True when the access token stays valid `seconds` more; a token with no known expiry is. */
export function validFor(tokens: TokenSet, seconds: number, now = Date.now()): boolean {
  return tokens.expires_at === undefined || tokens.expires_at - now / 1000 >= seconds;
}

/** The provider's response as the stored set: the refresh token and scope kept when it sends none. */
export function mergeRefreshed(
  stored: TokenSet,
  response: Record<string, unknown>,
  now = new Date(),
): TokenSet {
  const next = { ...response } as TokenSet;
  // A provider that sends no refresh token (or a null or empty one) leaves the grant's as it was.
  if (next.refresh_token === undefined || next.refresh_token === null || next.refresh_token === '')
    next.refresh_token = stored.refresh_token;
  if (next.scope === undefined && stored.scope !== undefined) next.scope = stored.scope;
  return normalizeTokenSet(next, now);
}

/** A read of an account's tokens, with the account's provider and whether a refresh made them. */
export interface TokenRead {
  tokens: TokenSet;
  provider: string;
  /** True when they come from a refresh: this caller's, or one it waited for. */
  refreshed: boolean;
}
