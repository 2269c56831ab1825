import { Injectable } from '@nestjs/common';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { EntityManager } from 'typeorm';
import { KeyRing, keyIdOf } from '../crypto/key-ring';
import { KeyRegistryLoader, unwrapRow } from '../keys/key-registry.loader';
import { KeyRegistryRepository, type RegistryKeyRow } from '../keys/key-registry.repository';
import type { KeyWrappers } from '../keys/key-wrappers';
import {
  KeyInUseError,
  KeyNotLoadedEverywhereError,
  KeysManagedByEnvironmentError,
  KeyStateConflictError,
  RegistryKeyNotFoundError,
  RegistryKeyRefusedError,
} from '../keys/keys.errors';
import { registryKeyViewOf, type KeyRegistryStatus, type RegistryKeyView } from './key-registry.view';
import { sealedUnder, type KeyUsage } from './key-usage';
import { KeyUsageService } from './key-usage.service';

const WAIT_STEP_MS = 100;

type Wrapped = { wrapped: Buffer; wrappingKey: string };

/**
 * The lifecycle of registry keys: add, promote, retire, rewrap, import and status. Every change
 * records who made it; a key is promoted only once every live instance has loaded it, and
 * retired only once nothing sealed needs it (KeyUsageService) and no instance's primary is it.
 */
@Injectable()
export class KeyLifecycleService {
  constructor(
    private readonly loader: KeyRegistryLoader,
    private readonly registry: KeyRegistryRepository,
    private readonly keyUsage: KeyUsageService,
    private readonly ring: KeyRing,
  ) {}

  get registryMode(): boolean {
    return this.loader.registryMode;
  }

  /**
   * A new decrypt-only key; returns its id, never the key. `within` runs in the transaction that
   * inserts it, so what it records commits with the key or not at all (and throwing undoes both).
   */
  async add(
    actor: string,
    within?: (manager: EntityManager, keyId: string) => Promise<void>,
  ): Promise<RegistryKeyView> {
    const wrappers = this.wrappers();
    const bytes = await wrappers.current.generate();
    let keyId: string;
    let wrapped: { wrapped: Buffer; wrappingKey: string };
    try {
      keyId = keyIdOf(createSecretKey(bytes));
      wrapped = await wrappers.current.wrap(keyId, bytes);
    } finally {
      bytes.fill(0);
    }
    await this.registry.change(async (manager) => {
      await this.registry.insert(manager, {
        keyId,
        state: 'decrypt-only',
        ...toColumns(wrapped),
        createdBy: actor,
      });
      await within?.(manager, keyId);
    });
    await this.loader.refresh();
    return this.view(keyId);
  }

  /** The answer is the state this call left under the lock, whatever lands after it. */
  async promote(keyId: string, actor: string, timeoutSeconds: number): Promise<RegistryKeyView> {
    this.wrappers();
    const row = await this.find(keyId);
    if (row.state === 'retired')
      throw new KeyStateConflictError(`key ${keyId} is retired and cannot be promoted`);
    if (row.state === 'decrypt-only') {
      await this.loader.refresh();
      const refusal = this.loader.refusedKeys().get(keyId);
      if (refusal !== undefined) throw new RegistryKeyRefusedError(keyId, refusal);
      await this.waitForFleet(keyId, timeoutSeconds);
    }
    const result = await this.registry.change(async (manager) => {
      const current = await this.findIn(manager, keyId);
      if (current.state === 'retired')
        throw new KeyStateConflictError(`key ${keyId} was retired meanwhile and cannot be promoted`);
      if (current.state === 'decrypt-only') {
        if (row.state !== 'decrypt-only') throw new KeyStateConflictError(`key ${keyId} changed meanwhile`);
        await this.registry.promote(manager, keyId, actor);
      }
      return this.snapshot(manager, keyId);
    });
    await this.loader.refresh();
    return registryKeyViewOf(result.row, result.usage, this.ring, this.loader.refusedKeys());
  }

  /**
   * Every check runs again under the registry lock, so a promotion or a write that lands between
   * the first look and the lock is seen. `changed` is false when the key was already retired.
   */
  async retire(keyId: string, actor: string): Promise<{ key: RegistryKeyView; changed: boolean }> {
    this.wrappers();
    const row = await this.find(keyId);
    if (row.state === 'decrypt-only') await this.retirable(keyId);
    const result = await this.registry.change(async (manager) => {
      const current = await this.findIn(manager, keyId);
      if (current.state === 'retired') return { ...(await this.snapshot(manager, keyId)), changed: false };
      if (current.state === 'primary') {
        throw new KeyStateConflictError(`key ${keyId} is the primary key: promote another key first`);
      }
      // Counted on the transaction's own session: the embedded database has only one, so a
      // count through the pool would wait for this transaction forever.
      await this.retirable(keyId, manager);
      await this.registry.retire(manager, keyId, actor);
      return { ...(await this.snapshot(manager, keyId)), changed: true };
    });
    await this.loader.refresh();
    return {
      key: registryKeyViewOf(result.row, result.usage, this.ring, this.loader.refusedKeys()),
      changed: result.changed,
    };
  }

  /** Refuses while a sealed value or a live instance's primary still needs the key. */
  private async retirable(keyId: string, manager?: EntityManager): Promise<void> {
    const inUse = sealedUnder(await this.keyUsage.usage(manager), keyId);
    if (inUse > 0) throw new KeyInUseError(keyId, inUse);
    const sealing = (await this.registry.liveInstances(this.loader.liveSeconds, manager))
      .filter((instance) => instance.primaryKeyId === keyId)
      .map((instance) => instance.instanceId);
    if (sealing.length > 0) throw new KeyNotLoadedEverywhereError(keyId, sealing);
  }

  private async snapshot(
    manager: EntityManager,
    keyId: string,
  ): Promise<{ row: RegistryKeyRow; usage: KeyUsage }> {
    return { row: await this.findIn(manager, keyId), usage: await this.keyUsage.usage(manager) };
  }

  /**
   * Re-wraps every key not retired under the configured wrapping; no account row is written.
   * KMS is called before the transaction, so the database work is a few row updates.
   */
  async rewrap(actor: string): Promise<{ rewrapped: number; databaseMs: number }> {
    const wrappers = this.wrappers();
    const rows = (await this.registry.list()).filter((row) => row.state !== 'retired');
    const next: { row: RegistryKeyRow; wrapped: Wrapped }[] = [];
    for (const row of rows) {
      const key = await unwrapRow(wrappers, row);
      const bytes = key.export();
      try {
        next.push({ row, wrapped: await wrappers.current.wrap(row.keyId, bytes) });
      } finally {
        bytes.fill(0);
      }
    }
    const started = performance.now();
    const changed = await this.registry.change(async (manager) => {
      let count = 0;
      for (const { row, wrapped } of next) {
        if (await this.registry.rewrap(manager, row, wrapped, actor)) count += 1;
      }
      return count;
    });
    const databaseMs = Math.round((performance.now() - started) * 10) / 10;
    await this.loader.refresh();
    return { rewrapped: changed, databaseMs };
  }

  /** Env-mode keys into the registry with the same key ids (primary stays primary); no row re-sealed. */
  async import(envRing: KeyRing, actor: string): Promise<RegistryKeyView[]> {
    const wrappers = this.wrappers();
    const primaryKeyId = envRing.primaryKeyId;
    const keys = envRing.keyIds().map((keyId) => ({ keyId, key: envRing.keyFor(keyId) as KeyObject }));
    if (keys.length === 0) throw new KeyStateConflictError('no env-mode key is set: nothing to import');
    const wrapped: (Wrapped & { keyId: string })[] = [];
    for (const { keyId, key } of keys) {
      const bytes = key.export();
      try {
        wrapped.push({ keyId, ...(await wrappers.current.wrap(keyId, bytes)) });
      } finally {
        bytes.fill(0);
      }
    }
    await this.registry.change(async (manager) => {
      const existing = new Map((await this.registry.list(manager)).map((row) => [row.keyId, row]));
      const otherPrimary = [...existing.values()].find(
        (row) => row.state === 'primary' && row.keyId !== primaryKeyId,
      );
      if (otherPrimary && primaryKeyId && !existing.has(primaryKeyId)) {
        throw new KeyStateConflictError(`the registry already has primary key ${otherPrimary.keyId}`);
      }
      for (const entry of wrapped) {
        if (existing.has(entry.keyId)) continue;
        const state = entry.keyId === primaryKeyId && !otherPrimary ? 'primary' : 'decrypt-only';
        await this.registry.insert(manager, { ...entry, wrappedKey: entry.wrapped, state, createdBy: actor });
      }
    });
    await this.loader.refresh();
    return Promise.all(keys.map(({ keyId }) => this.view(keyId)));
  }

  async status(): Promise<KeyRegistryStatus> {
    const wrappers = this.wrappers();
    const [rows, usage, instances, version] = await Promise.all([
      this.registry.list(),
      this.keyUsage.usage(),
      this.registry.liveInstances(this.loader.liveSeconds),
      this.registry.version(),
    ]);
    const refused = this.loader.refusedKeys();
    return {
      mode: 'registry',
      wrapping: wrappers.current.wrappingKey,
      version,
      primaryKeyId: rows.find((row) => row.state === 'primary')?.keyId ?? null,
      keys: rows.map((row) => registryKeyViewOf(row, usage, this.ring, refused)),
      legacyV1Accounts: usage.legacyV1,
      plaintextAccounts: usage.plaintext,
      totalAccounts: usage.totalAccounts,
      instances: instances.map((instance) => ({
        instanceId: instance.instanceId,
        loadedVersion: instance.loadedVersion,
        primaryKeyId: instance.primaryKeyId,
      })),
    };
  }

  /** One key as operators see it; KEY_NOT_FOUND when the registry never had it. */
  async describe(keyId: string): Promise<RegistryKeyView> {
    this.wrappers();
    return this.view(keyId);
  }

  /** The registry's primary key as stored, whether or not this process has loaded it yet. */
  async registryPrimaryKeyId(): Promise<string | undefined> {
    return (await this.registry.list()).find((row) => row.state === 'primary')?.keyId;
  }

  private async view(keyId: string): Promise<RegistryKeyView> {
    const row = await this.find(keyId);
    return registryKeyViewOf(row, await this.keyUsage.usage(), this.ring, this.loader.refusedKeys());
  }

  private wrappers(): KeyWrappers {
    if (!this.loader.wrappers) throw new KeysManagedByEnvironmentError();
    return this.loader.wrappers;
  }

  private find(keyId: string): Promise<RegistryKeyRow> {
    return this.findIn(undefined, keyId);
  }

  private async findIn(manager: EntityManager | undefined, keyId: string): Promise<RegistryKeyRow> {
    const row = (await this.registry.list(manager)).find((entry) => entry.keyId === keyId);
    if (!row) throw new RegistryKeyNotFoundError(keyId);
    return row;
  }

  private async waitForFleet(keyId: string, timeoutSeconds: number): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const laggards = (await this.registry.liveInstances(this.loader.liveSeconds))
        .filter((instance) => !instance.loadedKeyIds.includes(keyId))
        .map((instance) => instance.instanceId);
      if (laggards.length === 0) return;
      if (Date.now() >= deadline) throw new KeyNotLoadedEverywhereError(keyId, laggards);
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
    }
  }
}

function toColumns(wrapped: { wrapped: Buffer; wrappingKey: string }) {
  return { wrappedKey: wrapped.wrapped, wrappingKey: wrapped.wrappingKey };
}
