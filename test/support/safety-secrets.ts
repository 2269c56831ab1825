import { leakedForms } from './output-capture';

/** Where a secret was found, in which form: enough to fix the leak, never the secret itself. */
export interface Leak {
  secret: string;
  where: string;
  form: string;
}

interface Entry {
  label: string;
  forms: Map<string, string>;
}

const ENVELOPE_FIELDS = ['nonce', 'ct', 'tag'] as const;

/** `<Buffer 1a 2b ...>` as util.inspect prints bytes, and plain hex. */
function byteForms(bytes: Buffer): [string, string][] {
  const hex = bytes.toString('hex');
  const spaced = bytes
    .subarray(0, 12)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  return [
    ['hex', hex],
    ['inspected bytes', spaced],
    ['base64url of bytes', bytes.toString('base64url')],
  ];
}

/**
 * Every secret a test handled, in every form it could be printed in: raw, base64, base64url,
 * URL-encoded, JSON-escaped, and for random values their first and last 16 characters (a
 * truncated preview is still a leak). Envelopes are checked whole and field by field.
 */
export class SecretRegistry {
  private readonly entries = new Map<string, Entry>();

  /** A token, API token or password: a random value nobody else prints. */
  add(label: string, value: string): void {
    if (this.entries.has(value)) return;
    const forms = new Map(leakedForms(value).map((form) => [form, 'encoded'] as [string, string]));
    forms.set(value, 'raw');
    if (value.length >= 32) {
      forms.set(value.slice(0, 16), 'first 16 characters');
      forms.set(value.slice(-16), 'last 16 characters');
    }
    this.entries.set(value, { label, forms });
  }

  /** A key: its setting text and its bytes in other encodings. */
  addKey(label: string, base64Key: string): void {
    this.add(label, base64Key);
    const entry = this.entries.get(base64Key) as Entry;
    for (const [kind, form] of byteForms(Buffer.from(base64Key, 'base64'))) entry.forms.set(form, kind);
  }

  /** A stored envelope: the whole text, and each of nonce, ct and tag (the key id is public). */
  addEnvelope(label: string, stored: string | null): void {
    if (!stored || this.entries.has(stored)) return;
    const forms = new Map(leakedForms(stored).map((form) => [form, 'envelope text'] as [string, string]));
    this.entries.set(stored, { label, forms });
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(stored) as Record<string, unknown>;
    } catch {
      return;
    }
    for (const field of ENVELOPE_FIELDS) {
      const value = parsed[field];
      if (typeof value !== 'string' || value.length < 8) continue;
      const fieldForms = new Map<string, string>([[value, `${field} field`]]);
      for (const [kind, form] of byteForms(Buffer.from(value, 'base64')))
        fieldForms.set(form, `${field} ${kind}`);
      fieldForms.set(encodeURIComponent(value), `${field} URL-encoded`);
      this.entries.set(`${stored}#${field}`, { label: `${label} (${field})`, forms: fieldForms });
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Labels of every secret registered under `value` (several when an envelope has fields). */
  private labelsOf(values: Iterable<string>): Set<string> {
    const labels = new Set<string>();
    for (const value of values) {
      for (const [key, entry] of this.entries)
        if (key === value || key.startsWith(`${value}#`)) labels.add(entry.label);
    }
    return labels;
  }

  /** Every secret found in `output`, except those in `allowed` (a token read returns its own tokens). */
  find(output: string, where: string, allowed: Iterable<string> = []): Leak[] {
    const skip = this.labelsOf(allowed);
    const leaks: Leak[] = [];
    for (const { label, forms } of this.entries.values()) {
      if (skip.has(label)) continue;
      for (const [form, kind] of forms) {
        if (form.length >= 8 && output.includes(form)) {
          leaks.push({ secret: label, where, form: kind });
          break;
        }
      }
    }
    return leaks;
  }
}
