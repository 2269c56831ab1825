const SECRET_FIELD =
  /^(access_?token|refresh_?token|id_?token|tokens?|authorization|password|secret|key|ct|tag|nonce)$/i;
const ENVELOPE_TEXT = /\{\s*"_enc"\s*:[^}]*\}/g;
const BEARER_TEXT = /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi;
const MAX_DEPTH = 6;

function scrubText(text: string): string {
  return text.replace(ENVELOPE_TEXT, '[envelope]').replace(BEARER_TEXT, 'Bearer [redacted]');
}

function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, depth + 1));
  if (value instanceof Error) return { type: value.name };
  const result: Record<string, unknown> = {};
  for (const [field, inner] of Object.entries(value)) {
    result[field] = SECRET_FIELD.test(field) ? '[redacted]' : scrubValue(inner, depth + 1);
  }
  return result;
}

/**
 * Value-based second line of defence behind the logger's redact paths: fields named like a
 * secret are replaced, envelopes and bearer headers inside free text are masked.
 */
export function scrubSecrets(record: Record<string, unknown>): Record<string, unknown> {
  return scrubValue(record, 0) as Record<string, unknown>;
}
