import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import { backoffMs } from '../common/backoff';
import { errorCodeOf } from '../common/domain-error';
import { keysConfig } from '../config/configuration';
import { KeyRing, keyIdOf } from '../crypto/key-ring';
import { DatabaseNotices } from '../database/database-notices';
import { KeyRegistryRepository, REGISTRY_CHANNEL, type RegistryKeyRow } from './key-registry.repository';
import { KeyWrappers } from './key-wrappers';
import { RegistryKeyRefusedError } from './keys.errors';

export const KEY_REGISTRY_OPTIONS = Symbol('KEY_REGISTRY_OPTIONS');

export interface KeyRegistryOptions {
  /** A serving instance records what it loaded, so promotion can wait for it. The CLI does not. */
  fleet: boolean;
}

export type LoaderState = 'env' | 'loading' | 'ready' | 'unavailable';

interface Loaded {
  wrappingKey: string;
  wrapped: Buffer;
  key: KeyObject;
}

const FAILURE_BACKOFF = { firstMs: 1_000, maxMs: 30_000 };

/**
 * A failed read needs nothing more where no caller waits on it: readOnce logged it and recorded
 * it in the state and failure code that readiness reports ("is not ready with KMS_UNAVAILABLE"
 * in test/key-registry.e2e-spec.ts), and the next scheduled read retries.
 */
const reportedByReadOnce = (): void => undefined;

/**
 * Loads the registry into the process's key ring: at start, on every change notice, and on a
 * periodic re-read. A ring is replaced only once every key not retired is unwrapped or refused,
 * so nothing is served with half a ring; while KMS is down the loaded keys stay in use.
 */
@Injectable()
export class KeyRegistryLoader implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(KeyRegistryLoader.name);
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly wrappers: KeyWrappers | undefined;
  private stateValue: LoaderState;
  private loadedVersion: string | undefined;
  private cache = new Map<string, Loaded>();
  private refused = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private lastFailure = 'KEYS_LOADING';
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly ring: KeyRing,
    private readonly registry: KeyRegistryRepository,
    @Inject(keysConfig.KEY) private readonly config: ConfigType<typeof keysConfig>,
    private readonly notices: DatabaseNotices,
    @Inject(KEY_REGISTRY_OPTIONS) private readonly options: KeyRegistryOptions,
  ) {
    this.wrappers = config.wrapping && KeyWrappers.fromSettings(config.wrapping);
    this.stateValue = this.wrappers ? 'loading' : 'env';
  }

  get state(): LoaderState {
    return this.stateValue;
  }

  /** Why the keys are not loaded: KMS_UNAVAILABLE, or the error code of the registry read. */
  get failureCode(): string {
    return this.stateValue === 'loading' ? 'KEYS_LOADING' : this.lastFailure;
  }

  /**
   * Why nothing can be sealed yet, or undefined once a primary key is usable: the keys are not
   * loaded, the registry has no primary key, or this instance cannot unwrap it.
   */
  get notReadyCode(): string | undefined {
    if (!this.wrappers) return undefined;
    if (this.stateValue !== 'ready') return this.failureCode;
    if (this.ring.primary) return undefined;
    return this.ring.withheldPrimaryKeyId ? 'KEYS_NOT_UNWRAPPED' : 'NO_PRIMARY_KEY';
  }

  get registryMode(): boolean {
    return this.wrappers !== undefined;
  }

  /** Instances not seen for this long are presumed stopped: they block no promotion. */
  get liveSeconds(): number {
    return this.config.refreshSeconds * 3 + 5;
  }

  /** Key ids this process refused, and why; never the material. */
  refusedKeys(): ReadonlyMap<string, string> {
    return this.refused;
  }

  async onModuleInit(): Promise<void> {
    if (!this.wrappers) return;
    if (this.options.fleet) {
      const reread = () => void this.refresh().catch(reportedByReadOnce);
      this.unsubscribe = this.notices.subscribe(REGISTRY_CHANNEL, {
        notice: reread,
        // A change made while the notice connection was down is read once it listens again.
        gap: () => (this.notices.isListening(REGISTRY_CHANNEL) ? reread() : undefined),
      });
    }
    try {
      await this.refresh();
    } catch (error) {
      // The command line needs its keys now; a server keeps running, not ready, and retries.
      if (!this.options.fleet) throw error;
    }
    this.schedule();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    await this.running?.catch(reportedByReadOnce);
    for (const wrapper of this.wrappers?.unwrappers ?? []) wrapper.close();
    if (this.options.fleet && this.wrappers) {
      await this.registry.forgetInstance(this.instanceId).catch((error: unknown) => {
        // The row ages out: promotions stop waiting for it after liveSeconds.
        this.logger.warn(`instance row not removed at shutdown (${errorCodeOf(error)}); it expires`);
      });
    }
  }

  /** Reads the registry now; concurrent calls share one read, and a call during a read runs one more. */
  async refresh(): Promise<void> {
    if (!this.wrappers || this.stopped) return;
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.refreshLoop().finally(() => (this.running = undefined));
    return this.running;
  }

  private async refreshLoop(): Promise<void> {
    do {
      this.again = false;
      await this.readOnce();
    } while (this.again && !this.stopped);
  }

  private async readOnce(): Promise<void> {
    try {
      const { version, rows } = await this.registry.loadable();
      if (version !== this.loadedVersion) await this.apply(version, rows);
      this.failures = 0;
      // Once stopping, the instance's row is being deleted: it must not be written back.
      if (this.options.fleet && !this.stopped) await this.recordInstance();
    } catch (error) {
      this.failures += 1;
      this.lastFailure = errorCodeOf(error);
      if (this.stateValue !== 'ready') this.stateValue = 'unavailable';
      if (this.failures === 1) {
        this.logger.warn(`key registry cannot be loaded (${errorCodeOf(error)}), retrying with backoff`);
      }
      throw error;
    }
  }

  private async apply(version: string, rows: RegistryKeyRow[]): Promise<void> {
    const next = new Map<string, Loaded>();
    const refused = new Map<string, string>();
    for (const row of rows) {
      try {
        next.set(row.keyId, await this.unwrapped(row));
      } catch (error) {
        if (!(error instanceof RegistryKeyRefusedError)) throw error;
        refused.set(row.keyId, error.reason);
      }
    }
    const primaries = rows.filter((row) => row.state === 'primary' && next.has(row.keyId));
    if (primaries.length > 1 && this.loadedVersion !== version) {
      const keyIds = primaries.map((row) => row.keyId).join(', ');
      this.logger.error(`registry holds more than one primary key (${keyIds}): none of them seals`);
    }
    for (const row of rows) {
      const reason = refused.get(row.keyId);
      if (reason !== undefined && this.refused.get(row.keyId) !== reason) {
        this.logger.error(
          `registry key ${row.keyId} (${row.state}) refused (${reason}): not loaded, never used to seal; ` +
            this.remedyFor(row, reason),
        );
      }
    }
    const primaryRow = primaries.length === 1 ? primaries[0] : undefined;
    const primary = primaryRow && next.get(primaryRow.keyId)?.key;
    const others = [...next.entries()]
      .filter(([keyId]) => keyId !== primaryRow?.keyId)
      .map(([, entry]) => entry.key);
    const refusedPrimary = rows.find((row) => row.state === 'primary' && refused.has(row.keyId));
    this.ring.load(primary, others, { keyIds: refused.keys(), primaryKeyId: refusedPrimary?.keyId });
    [this.cache, this.refused, this.loadedVersion, this.stateValue] = [next, refused, version, 'ready'];
  }

  /** What the operator can do about a refused key; the wrapping key names are ids, not secrets. */
  private remedyFor(row: RegistryKeyRow, reason: string): string {
    if (!this.wrappers?.for(row.wrappingKey)) {
      return row.wrappingKey.startsWith('local:')
        ? `it is wrapped by root key ${row.wrappingKey}: set ROOT_KEY (or ROOT_KEY_PREVIOUS) to that root key`
        : `it is wrapped by ${row.wrappingKey}: set KEY_WRAPPING to that KMS key, or re-wrap it from an instance that has it`;
    }
    if (reason.startsWith('KMS ')) return `check this instance's KMS permissions on ${row.wrappingKey}`;
    return 'its row does not unwrap to its key id (altered or moved): restore key_registry from a backup';
  }

  /** A key already unwrapped from the same blob is reused: a change elsewhere costs no KMS call. */
  private async unwrapped(row: RegistryKeyRow): Promise<Loaded> {
    const cached = this.cache.get(row.keyId);
    if (cached && cached.wrappingKey === row.wrappingKey && cached.wrapped.equals(row.wrappedKey)) {
      return cached;
    }
    const key = await unwrapRow(this.wrappers as KeyWrappers, row);
    return { wrappingKey: row.wrappingKey, wrapped: row.wrappedKey, key };
  }

  private async recordInstance(): Promise<void> {
    await this.registry.recordInstance({
      instanceId: this.instanceId,
      loadedVersion: this.loadedVersion ?? '0',
      loadedKeyIds: this.ring.keyIds(),
      primaryKeyId: this.ring.primaryKeyId ?? null,
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay =
      this.failures > 0 ? backoffMs(this.failures, FAILURE_BACKOFF) : this.config.refreshSeconds * 1000;
    this.timer = setTimeout(() => {
      this.refresh()
        .catch(reportedByReadOnce)
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }
}

/** Unwraps a row and checks that the key is the one its id names: a foreign key is refused. */
export async function unwrapRow(wrappers: KeyWrappers, row: RegistryKeyRow): Promise<KeyObject> {
  const wrapper = wrappers.for(row.wrappingKey);
  if (!wrapper) throw new RegistryKeyRefusedError(row.keyId, 'wrapped by a key this instance does not trust');
  const bytes = await wrapper.unwrap(row.keyId, row.wrappedKey, row.wrappingKey);
  try {
    const key = createSecretKey(bytes);
    if (keyIdOf(key) !== row.keyId)
      throw new RegistryKeyRefusedError(row.keyId, 'key does not match its key id');
    return key;
  } finally {
    bytes.fill(0);
  }
}
