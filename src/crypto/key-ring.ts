import { createHmac, createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { decodeStrictBase64 } from './strict-base64';

export const KEY_BYTES = 32;

const KEY_ID_LABEL = 'connectors-backend/key-id/v1';
const KEY_RULE = 'must be standard base64 of exactly 32 bytes (openssl rand -base64 32)';

/**
 * A key setting that is not a key: which one (`primary`, `previous[2]`, `secondary`) and the
 * rule it breaks, never its text. The configuration names the variable it came from.
 */
export class KeyMaterialError extends Error {
  constructor(
    readonly setting: string,
    readonly rule: string,
  ) {
    super(`${setting}: ${rule}`);
    this.name = 'KeyMaterialError';
  }
}

/** Raw key texts; where they come from (variables, files) is the caller's business. */
export interface KeySettings {
  primary?: string;
  previous?: string;
  secondary?: string;
}

export interface Withheld {
  readonly keyIds: Iterable<string>;
  readonly primaryKeyId?: string;
}

const NOTHING_WITHHELD: { keyIds: ReadonlySet<string>; primaryKeyId?: string } = { keyIds: new Set() };

/** A KeyObject prints and serialises without its material, unlike a Buffer. */
export interface RingKey {
  readonly kid: string;
  readonly key: KeyObject;
}

interface RingState {
  readonly primary: RingKey | undefined;
  readonly byKid: ReadonlyMap<string, RingKey>;
  readonly previous: readonly RingKey[];
  readonly decryptionKeys: readonly KeyObject[];
}

function ringState(primary: RingKey | undefined, previous: readonly RingKey[]): RingState {
  const all = primary ? [primary, ...previous] : previous;
  const byKid = new Map(all.map((entry) => [entry.kid, entry]));
  const unique = [...byKid.values()];
  return {
    primary,
    byKid,
    previous: unique.filter((entry) => entry.kid !== primary?.kid),
    decryptionKeys: unique.map((entry) => entry.key),
  };
}

/**
 * The keys of the process. In env mode it is decoded once and never changes. In registry mode
 * (`managed`) it starts unloaded and the registry replaces its contents as keys change; a
 * managed ring always seals, so a missing primary refuses a write instead of storing plaintext.
 */
export class KeyRing {
  #state: RingState;
  #loaded: boolean;
  #withheld: { keyIds: ReadonlySet<string>; primaryKeyId?: string } = NOTHING_WITHHELD;

  private constructor(
    primary: RingKey | undefined,
    previous: readonly RingKey[],
    readonly managed = false,
    loaded = true,
  ) {
    this.#state = ringState(primary, previous);
    this.#loaded = loaded;
  }

  static fromSettings(settings: KeySettings): KeyRing {
    const primary = parseOptionalKey('primary', settings.primary);
    const previous = parseKeyList('previous', settings.previous);
    const secondary = parseOptionalKey('secondary', settings.secondary);
    return new KeyRing(primary, secondary ? [...previous, secondary] : previous);
  }

  /** A registry-managed ring that holds no key until `load` gives it the registry's keys. */
  static unloaded(): KeyRing {
    return new KeyRing(undefined, [], true, false);
  }

  /**
   * Replaces every key at once: a reader sees the old ring or the new one, never a mix.
   * `withheld` names the registry's keys that this process could not unwrap.
   */
  load(
    primary: KeyObject | undefined,
    others: readonly KeyObject[],
    withheld: Withheld = NOTHING_WITHHELD,
  ): void {
    if (!this.managed) throw new Error('only a registry-managed key ring is reloaded');
    const entry = (key: KeyObject): RingKey => Object.freeze({ kid: keyIdOf(key), key });
    this.#state = ringState(primary && entry(primary), others.map(entry));
    this.#withheld = { keyIds: new Set(withheld.keyIds), primaryKeyId: withheld.primaryKeyId };
    this.#loaded = true;
  }

  /** A key the registry holds but this process could not unwrap: it opens nothing here. */
  isWithheld(kid: string): boolean {
    return this.#withheld.keyIds.has(kid);
  }

  withheldKeyIds(): string[] {
    return [...this.#withheld.keyIds];
  }

  /** The registry's primary key, when this process could not unwrap it. */
  get withheldPrimaryKeyId(): string | undefined {
    return this.#withheld.primaryKeyId;
  }

  /** False until a managed ring has received the registry's keys once. */
  get loaded(): boolean {
    return this.#loaded;
  }

  get primary(): RingKey | undefined {
    return this.#state.primary;
  }

  get primaryKeyId(): string | undefined {
    return this.primary?.kid;
  }

  /** Primary first, then the previous keys in configuration order, without duplicates. */
  keyIds(): string[] {
    return [...this.#state.byKid.keys()];
  }

  previousKeyIds(): string[] {
    return this.#state.previous.map((entry) => entry.kid);
  }

  keyFor(kid: string): KeyObject | undefined {
    return this.#state.byKid.get(kid)?.key;
  }

  /** Primary first: legacy envelopes carry no key id and are opened by trying each key. */
  decryptionKeys(): readonly KeyObject[] {
    return this.#state.decryptionKeys;
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

function parseOptionalKey(setting: string, raw: string | undefined): RingKey | undefined {
  const trimmed = raw?.trim();
  return trimmed ? parseKey(setting, trimmed) : undefined;
}

function parseKeyList(setting: string, raw: string | undefined): RingKey[] {
  if (!raw?.trim()) {
    return [];
  }
  return raw.split(',').map((entry, index) => {
    const position = `${setting}[${index + 1}]`;
    const trimmed = entry.trim();
    if (!trimmed) {
      throw new KeyMaterialError(position, 'must not be empty (check for a stray comma)');
    }
    return parseKey(position, trimmed);
  });
}

function parseKey(setting: string, text: string): RingKey {
  const bytes = decodeStrictBase64(text);
  if (bytes?.length !== KEY_BYTES) {
    throw new KeyMaterialError(setting, KEY_RULE);
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return Object.freeze({ kid: keyIdOf(key), key });
}
