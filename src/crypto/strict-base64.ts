/** The value of each character of the standard alphabet, by char code; -1 for any other. */
const VALUES = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('')
  .forEach((char, value) => (VALUES[char.charCodeAt(0)] = value));

/**
 * Node's decoder skips unknown characters, accepts the url-safe alphabet and missing padding,
 * so only canonical standard base64 is decoded: a length in quads, every character decoded (a
 * skipped one, whitespace and `=` inside included, makes the output short), none of `-` and `_`,
 * and zero in the bits a padded quad leaves unused. This is what re-encoding and comparing
 * checks, without encoding kilobytes again (`strict-base64.spec.ts` holds both to agree).
 */
export function decodeStrictBase64(text: string): Buffer | undefined {
  const length = text.length;
  if (length % 4 !== 0) return undefined;
  const padding =
    length === 0 || text.charCodeAt(length - 1) !== 0x3d ? 0 : text.charCodeAt(length - 2) === 0x3d ? 2 : 1;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== (length / 4) * 3 - padding) return undefined;
  if (text.includes('-') || text.includes('_')) return undefined;
  if (padding > 0) {
    const last = VALUES[text.charCodeAt(length - 1 - padding)] ?? -1;
    if (last < 0 || (last & (padding === 1 ? 0x03 : 0x0f)) !== 0) return undefined;
  }
  return bytes;
}
