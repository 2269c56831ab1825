import { createCipheriv, randomBytes } from 'node:crypto';

/** Python's json.dumps text: `, ` and `: ` separators, non-ASCII escaped. */
export function pythonJsonDumps(value: Record<string, unknown>): string {
  const escape = (text: string) =>
    JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const item = (inner: unknown): string =>
    typeof inner === 'string' ? escape(inner) : inner === null ? 'null' : JSON.stringify(inner);
  return `{${Object.entries(value)
    .map(([field, inner]) => `${escape(field)}: ${item(inner)}`)
    .join(', ')}}`;
}

/** An envelope as the original Python service wrote it: AES-256-GCM, no associated data, no key id. */
export function legacyV1Envelope(key: Buffer, tokens: Record<string, unknown>): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const ct = Buffer.concat([cipher.update(pythonJsonDumps(tokens), 'utf8'), cipher.final()]);
  return JSON.stringify({
    _enc: 'aesgcm:v1',
    nonce: nonce.toString('base64'),
    ct: ct.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  });
}
