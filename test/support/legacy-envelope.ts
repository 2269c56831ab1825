import { createCipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Python's `json.dumps` text with its default settings: `, ` and `: ` separators, keys in
 * insertion order, every non-ASCII UTF-16 unit escaped as `\uXXXX` (ensure_ascii).
 */
export function pythonJsonDumps(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const items = Object.entries(value).map(
      ([field, inner]) => `${pythonJsonDumps(field)}: ${pythonJsonDumps(inner)}`,
    );
    return `{${items.join(', ')}}`;
  }
  return JSON.stringify(value);
}

/**
 * An envelope exactly as the original Python service stored it: AES-256-GCM over
 * `json.dumps(tokens)`, no associated data, no key id, the envelope itself written by
 * `json.dumps` in the order `_enc, nonce, ct, tag`, standard base64 with padding.
 */
export function legacyV1Envelope(key: Buffer, tokens: Record<string, unknown>): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const ct = Buffer.concat([cipher.update(pythonJsonDumps(tokens), 'utf8'), cipher.final()]);
  return pythonJsonDumps({
    _enc: 'aesgcm:v1',
    nonce: nonce.toString('base64'),
    ct: ct.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  });
}

/**
 * A v2 envelope, as this service wrote them before v3, built here from the format's definition:
 * key id = first 8 bytes of HMAC-SHA256(key, label), associated data bound to the account only.
 */
export function v2Envelope(key: Buffer, accountId: number, tokens: Record<string, unknown>): string {
  const kid = createHmac('sha256', key)
    .update('connectors-backend/key-id/v1')
    .digest()
    .subarray(0, 8)
    .toString('hex');
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(`connectors-backend/external_accounts\0aesgcm:v2\0${accountId}`));
  const ct = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
  return JSON.stringify({
    _enc: 'aesgcm:v2',
    kid,
    nonce: nonce.toString('base64'),
    ct: ct.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  });
}
