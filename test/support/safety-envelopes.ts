/** Edits of a stored envelope's JSON text, as someone with write access to the table could make. */
export type EnvelopeFields = Record<string, unknown>;

export function fieldsOf(envelope: string): EnvelopeFields {
  return JSON.parse(envelope) as EnvelopeFields;
}

export function withFields(envelope: string, changes: EnvelopeFields, remove: string[] = []): string {
  const fields = { ...fieldsOf(envelope), ...changes };
  for (const field of remove) delete fields[field];
  return JSON.stringify(fields);
}

/** The base64 field with one bit flipped. */
export function flipBit(base64: unknown, bit = 0): string {
  const bytes = Buffer.from(base64 as string, 'base64');
  bytes[bit >> 3] ^= 1 << (bit & 7);
  return bytes.toString('base64');
}

/** The base64 field's bytes cut to `bytes` (negative: from the end). */
export function resized(base64: unknown, bytes: number): string {
  const decoded = Buffer.from(base64 as string, 'base64');
  return decoded.subarray(0, bytes < 0 ? decoded.length + bytes : bytes).toString('base64');
}

export function appended(base64: unknown): string {
  return Buffer.concat([Buffer.from(base64 as string, 'base64'), Buffer.from([0])]).toString('base64');
}
