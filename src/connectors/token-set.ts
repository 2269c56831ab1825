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
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

type FieldCheck = (value: unknown) => string | undefined;

const optionalString = (max: number): FieldCheck => (value) =>
  value === undefined || (typeof value === 'string' && value.length <= max)
    ? undefined
    : `must be a string of at most ${max} characters`;

const KNOWN_FIELDS: Record<string, FieldCheck> = {
  access_token: (value) =>
    typeof value === 'string' && value.length >= 1 && value.length <= MAX_TOKEN_LENGTH
      ? undefined
      : `must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`,
  refresh_token: (value) => (value === null ? undefined : optionalString(MAX_TOKEN_LENGTH)(value)),
  token_type: optionalString(64),
  scope: optionalString(4096),
  expires_in: (value) =>
    value === undefined || (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_EXPIRES_IN)
      ? undefined
      : `must be an integer number of seconds between 0 and ${MAX_EXPIRES_IN}`,
  expires_at: (value) =>
    value === undefined || (Number.isInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 40)
      ? undefined
      : 'must be a Unix time in whole seconds',
};

function extraFieldErrors(name: string, value: unknown, path: string): string[] {
  if (!FIELD_NAME.test(name)) return [`${path}: extra field names must be identifiers of at most 64 characters`];
  const encoded = JSON.stringify(value);
  if (encoded === undefined || Buffer.byteLength(encoded) > MAX_EXTRA_FIELD_BYTES) {
    return [`${path}.${name}: must be a JSON value of at most ${MAX_EXTRA_FIELD_BYTES} bytes`];
  }
  return [];
}

/**
 * Every rule a token set breaks, as `path.field: rule`. Values are never repeated: they are
 * secrets. Unknown fields are kept (providers add their own) within bounds.
 */
export function tokenSetErrors(value: unknown, path: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: must be an object`];
  const entries = Object.entries(value);
  const errors: string[] = [];
  for (const [field, check] of Object.entries(KNOWN_FIELDS)) {
    const rule = check((value as Record<string, unknown>)[field]);
    if (rule) errors.push(`${path}.${field}: ${rule}`);
  }
  const extras = entries.filter(([field]) => !(field in KNOWN_FIELDS));
  if (extras.length > MAX_EXTRA_FIELDS) errors.push(`${path}: at most ${MAX_EXTRA_FIELDS} extra fields`);
  for (const [field, inner] of extras.slice(0, MAX_EXTRA_FIELDS)) errors.push(...extraFieldErrors(field, inner, path));
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
