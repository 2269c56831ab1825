/**
 * Node's decoder skips unknown characters, accepts the url-safe alphabet and missing padding,
 * so only a value that re-encodes to exactly itself is canonical standard base64.
 */
export function decodeStrictBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
