import { createHmac, createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ConfigurationError } from '../config/configuration.error';
import { decodeStrictBase64 } from './strict-base64';

export const KEY_BYTES = 32;

const KEY_ID_LABEL = 'connectors-backend/key-id/v1';
const KEY_RULE = 'must be standard base64 of exactly 32 bytes (openssl rand -base64 32)';
const PRIMARY_VARIABLE = 'WORKFLOWS_ARTIFACT_ENC_KEY';
const PREVIOUS_VARIABLE = 'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS';
const SECONDARY_VARIABLE = 'JOBS_CRYPTO_SECONDARY_KEY';

/** Raw setting values; the `*_FILE` variants are resolved by the caller. */
export interface KeySettings {
  primary?: string;
  previous?: string;
  secondary?: string;
}

/** A KeyObject prints and serialises without its material, unlike a Buffer. */
export interface RingKey {
  readonly kid: string;
  readonly key: KeyObject;
}

export class KeyRing {
  readonly #byKid: ReadonlyMap<string, RingKey>;
  readonly #previous: readonly RingKey[];
  readonly #decryptionKeys: readonly KeyObject[];

  private constructor(
    readonly primary: RingKey | undefined,
    previous: readonly RingKey[],
  ) {
    const all = primary ? [primary, ...previous] : previous;
    this.#byKid = new Map(all.map((entry) => [entry.kid, entry]));
    const unique = [...this.#byKid.values()];
    this.#previous = unique.filter((entry) => entry.kid !== primary?.kid);
    this.#decryptionKeys = unique.map((entry) => entry.key);
  }

  static fromSettings(settings: KeySettings): KeyRing {
    const primary = parseOptionalKey(PRIMARY_VARIABLE, settings.primary);
    const previous = parseKeyList(PREVIOUS_VARIABLE, settings.previous);
    const secondary = parseOptionalKey(SECONDARY_VARIABLE, settings.secondary);
    return new KeyRing(primary, secondary ? [...previous, secondary] : previous);
  }

  get primaryKeyId(): string | undefined {
    return this.primary?.kid;
  }

  hasKey(kid: string): boolean {
    return this.#byKid.has(kid);
  }

  /** Primary first, then the previous keys in configuration order, without duplicates. */
  keyIds(): string[] {
    return [...this.#byKid.keys()];
  }

  previousKeyIds(): string[] {
    return this.#previous.map((entry) => entry.kid);
  }

  keyFor(kid: string): KeyObject | undefined {
    return this.#byKid.get(kid)?.key;
  }

  /** Primary first: legacy envelopes carry no key id and are opened by trying each key. */
  decryptionKeys(): readonly KeyObject[] {
    return this.#decryptionKeys;
  }

  toJSON(): { primaryKeyId: string | null; previousKeyIds: string[] } {
    return { primaryKeyId: this.primaryKeyId ?? null, previousKeyIds: this.previousKeyIds() };
  }

  toString(): string {
    const previous = this.previousKeyIds().join(', ');
    return `KeyRing(primary: ${this.primaryKeyId ?? 'none'}, previous: [${previous}])`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

export function generateKey(): { key: string; kid: string } {
  const bytes = randomBytes(KEY_BYTES);
  const key = bytes.toString('base64');
  const kid = keyIdOf(createSecretKey(bytes));
  bytes.fill(0);
  return { key, kid };
}

/** A one-way id: the same key gets the same id on every instance, and the id reveals nothing. */
export function keyIdOf(key: KeyObject): string {
  return createHmac('sha256', key).update(KEY_ID_LABEL).digest().subarray(0, 8).toString('hex');
}

function parseOptionalKey(variable: string, raw: string | undefined): RingKey | undefined {
  const trimmed = raw?.trim();
  return trimmed ? parseKey(variable, trimmed) : undefined;
}

function parseKeyList(variable: string, raw: string | undefined): RingKey[] {
  if (!raw?.trim()) {
    return [];
  }
  return raw.split(',').map((entry, index) => {
    const position = `${variable}[${index + 1}]`;
    const trimmed = entry.trim();
    if (!trimmed) {
      throw new ConfigurationError(position, 'must not be empty (check for a stray comma)');
    }
    return parseKey(position, trimmed);
  });
}

function parseKey(variable: string, text: string): RingKey {
  const bytes = decodeStrictBase64(text);
  if (bytes?.length !== KEY_BYTES) {
    throw new ConfigurationError(variable, KEY_RULE);
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return Object.freeze({ kid: keyIdOf(key), key });
}
