import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { leakedForms } from './output-capture';

/** Where a secret was found, in which form: enough to fix the leak, never the secret itself. */
export interface Leak {
  secret: string;
  where: string;
  form: string;
}

interface Entry {
  label: string;
  /** The value the entry was registered under: a response may be allowed exactly this value. */
  value: string;
  forms: Map<string, string>;
}

const ENVELOPE_FIELDS = ['nonce', 'ct', 'tag'] as const;
/** Token-set fields that are not secrets. */
const PUBLIC_TOKEN_FIELDS = new Set(['token_type', 'scope']);

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

/** What `client_secret_basic` sends: base64 of the form-encoded id and secret, and of them raw. */
export function basicCredential(clientId: string, clientSecret: string): string[] {
  const encode = (text: string) => encodeURIComponent(text).replace(/%20/g, '+');
  return [
    ...new Set([
      Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64'),
      Buffer.from(`${clientId}:${clientSecret}`).toString('base64'),
    ]),
  ];
}

/**
 * Every secret a test handled, in every form it could be printed in: raw, base64, base64url, hex,
 * URL-encoded, JSON-escaped, and for random values their first and last 16 characters (a
 * truncated preview is still a leak). Envelopes are checked whole and field by field. A scan may
 * allow secrets by their exact value only (a token read returns its own account's tokens): two
 * secrets that look alike are still two secrets.
 */
export class SecretRegistry {
  private readonly entries = new Map<string, Entry>();

  /** A token, API token or password: a random value nobody else prints. */
  add(label: string, value: string): void {
    if (this.entries.has(value)) return;
    const forms = new Map(leakedForms(value).map((form) => [form, 'encoded'] as [string, string]));
    forms.set(value, 'raw');
    forms.set(Buffer.from(value).toString('hex'), 'hex');
    if (value.length >= 32) {
      forms.set(value.slice(0, 16), 'first 16 characters');
      forms.set(value.slice(-16), 'last 16 characters');
    }
    this.entries.set(value, { label, value, forms });
  }

  /** Every secret field of a token set (all but its type and scope). */
  addTokens(label: string, tokens: object): void {
    for (const [field, value] of Object.entries(tokens)) {
      if (!PUBLIC_TOKEN_FIELDS.has(field) && typeof value === 'string') this.add(`${label} ${field}`, value);
    }
  }

  /** A provider client's secret, and the Basic credential `client_secret_basic` builds from it. */
  addClientCredentials(label: string, clientId: string, clientSecret: string): void {
    this.add(`${label} client secret`, clientSecret);
    for (const credential of basicCredential(clientId, clientSecret)) {
      this.add(`${label} Basic credential`, credential);
    }
  }

  /** A caller's secret, and its SHA-256 digest as the database keeps it (hex) and in base64. */
  addCallerSecret(label: string, secret: string): void {
    this.add(label, secret);
    const digest = createHash('sha256').update(secret).digest();
    this.add(`${label} digest`, digest.toString('hex'));
    this.add(`${label} digest (base64)`, digest.toString('base64'));
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
    this.entries.set(stored, { label, value: stored, forms });
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
      this.entries.set(`${stored}#${field}`, {
        label: `${label} (${field})`,
        value: stored,
        forms: fieldForms,
      });
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every secret found in `output`, except the exact values in `allowed`. */
  find(output: string, where: string, allowed: Iterable<string> = []): Leak[] {
    const skip = new Set(allowed);
    const leaks: Leak[] = [];
    for (const { label, value, forms } of this.entries.values()) {
      if (skip.has(value)) continue;
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

/**
 * What the database holds outside the sealed columns, as text for a leak scan: every table the
 * service writes, with only the sealed columns left out (account tokens, the client secret, the
 * wrapped data keys, a connect session's PKCE verifier, the digests of caller secrets).
 */
export async function storedOutsideSealedColumns(dataSource: DataSource): Promise<string> {
  const tables: { name: string }[] = await dataSource.query(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const sealed: Record<string, string[]> = {
    external_accounts: ['access_token', 'refresh_token'],
    provider_clients: ['client_secret'],
    key_registry: ['wrapped_key'],
    connect_sessions: ['code_verifier'],
    service_client_secrets: ['digest'],
  };
  const dump: Record<string, unknown[]> = {};
  for (const { name: table } of tables) {
    const rows: Record<string, unknown>[] = await dataSource.query(`SELECT * FROM "${table}"`);
    dump[table] = rows.map((row) => {
      const open = { ...row };
      for (const column of sealed[table] ?? []) delete open[column];
      return open;
    });
  }
  return JSON.stringify(dump);
}
