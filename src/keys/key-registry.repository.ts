import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { queryRows } from '../database/query-rows';
import type { KeyState } from './registry-key.entity';

export const REGISTRY_CHANNEL = 'key_registry';

export interface RegistryKeyRow {
  keyId: string;
  state: KeyState;
  wrappedKey: Buffer;
  wrappingKey: string;
  createdAt: Date;
  createdBy: string;
  promotedAt: Date | null;
  promotedBy: string | null;
  retiredAt: Date | null;
  retiredBy: string | null;
  rewrappedAt: Date | null;
  rewrappedBy: string | null;
}

export interface InstanceRow {
  instanceId: string;
  loadedVersion: string;
  loadedKeyIds: string[];
  primaryKeyId: string | null;
}

const KEY_COLUMNS = `key_id AS "keyId", state, wrapped_key AS "wrappedKey", wrapping_key AS "wrappingKey",
  created_at AS "createdAt", created_by AS "createdBy", promoted_at AS "promotedAt", promoted_by AS "promotedBy",
  retired_at AS "retiredAt", retired_by AS "retiredBy", rewrapped_at AS "rewrappedAt", rewrapped_by AS "rewrappedBy"`;

/** The embedded driver hands bytea back as a Uint8Array. */
function withBuffer(row: RegistryKeyRow): RegistryKeyRow {
  return { ...row, wrappedKey: Buffer.from(row.wrappedKey) };
}

/**
 * Every statement over key_registry and key_registry_instances. A change takes the table lock,
 * so lifecycle actions from several instances run one after another, and announces the new
 * version on the channel in the same transaction (delivered at commit).
 */
@Injectable()
export class KeyRegistryRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The highest change number: any change of any row raises it. */
  async version(manager: EntityManager = this.dataSource.manager): Promise<string> {
    const [{ version }] = await queryRows<{ version: string }>(
      manager,
      `SELECT coalesce(max(change_seq), 0)::text AS version FROM key_registry`,
    );
    return version;
  }

  async list(manager: EntityManager = this.dataSource.manager): Promise<RegistryKeyRow[]> {
    const rows = await queryRows<RegistryKeyRow>(
      manager,
      `SELECT ${KEY_COLUMNS} FROM key_registry ORDER BY created_at, key_id`,
    );
    return rows.map(withBuffer);
  }

  /** Every key not retired, and the version they belong to, read in one snapshot. */
  loadable(): Promise<{ version: string; rows: RegistryKeyRow[] }> {
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const rows = await queryRows<RegistryKeyRow>(
        manager,
        `SELECT ${KEY_COLUMNS} FROM key_registry WHERE state <> 'retired' ORDER BY created_at, key_id`,
      );
      return { version: await this.version(manager), rows: rows.map(withBuffer) };
    });
  }

  /** Runs `change` under the registry's lock and announces the new version once it commits. */
  change<T>(change: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query(`LOCK TABLE key_registry IN SHARE ROW EXCLUSIVE MODE`);
      const result = await change(manager);
      await manager.query(`SELECT pg_notify($1, $2)`, [REGISTRY_CHANNEL, await this.version(manager)]);
      return result;
    });
  }

  async insert(
    manager: EntityManager,
    row: Pick<RegistryKeyRow, 'keyId' | 'state' | 'wrappedKey' | 'wrappingKey' | 'createdBy'>,
  ): Promise<void> {
    const promoted = row.state === 'primary';
    await manager.query(
      `INSERT INTO key_registry (key_id, state, wrapped_key, wrapping_key, created_by, promoted_at, promoted_by)
       VALUES ($1, $2, $3, $4, $5, ${promoted ? 'now()' : 'NULL'}, ${promoted ? '$5' : 'NULL'})`,
      [row.keyId, row.state, row.wrappedKey, row.wrappingKey, row.createdBy],
    );
  }

  /** The old primary becomes decrypt-only first: the unique index allows one primary at a time. */
  async promote(manager: EntityManager, keyId: string, actor: string): Promise<void> {
    await manager.query(
      `UPDATE key_registry SET state = 'decrypt-only', change_seq = nextval('key_registry_change_seq')
        WHERE state = 'primary' AND key_id <> $1`,
      [keyId],
    );
    await manager.query(
      `UPDATE key_registry SET state = 'primary', promoted_at = now(), promoted_by = $2,
              change_seq = nextval('key_registry_change_seq')
        WHERE key_id = $1 AND state = 'decrypt-only'`,
      [keyId, actor],
    );
  }

  async retire(manager: EntityManager, keyId: string, actor: string): Promise<void> {
    await manager.query(
      `UPDATE key_registry SET state = 'retired', retired_at = now(), retired_by = $2,
              change_seq = nextval('key_registry_change_seq')
        WHERE key_id = $1 AND state = 'decrypt-only'`,
      [keyId, actor],
    );
  }

  /** Compare-and-set on the old blob: a row changed meanwhile is left alone. */
  async rewrap(
    manager: EntityManager,
    row: Pick<RegistryKeyRow, 'keyId' | 'wrappedKey'>,
    next: { wrapped: Buffer; wrappingKey: string },
    actor: string,
  ): Promise<boolean> {
    const updated = await queryRows(
      manager,
      `UPDATE key_registry SET wrapped_key = $3, wrapping_key = $4, rewrapped_at = now(), rewrapped_by = $5,
              change_seq = nextval('key_registry_change_seq')
        WHERE key_id = $1 AND wrapped_key = $2 AND state <> 'retired' RETURNING key_id`,
      [row.keyId, row.wrappedKey, next.wrapped, next.wrappingKey, actor],
    );
    return updated.length === 1;
  }

  async recordInstance(instance: InstanceRow): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO key_registry_instances (instance_id, loaded_version, loaded_key_ids, primary_key_id, seen_at)
       VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (instance_id) DO UPDATE SET loaded_version = $2, loaded_key_ids = $3, primary_key_id = $4,
              seen_at = now()`,
      [instance.instanceId, instance.loadedVersion, instance.loadedKeyIds, instance.primaryKeyId],
    );
  }

  async forgetInstance(instanceId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM key_registry_instances WHERE instance_id = $1`, [instanceId]);
  }

  /** Instances seen within `liveSeconds`; older ones are presumed stopped. */
  liveInstances(
    liveSeconds: number,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<InstanceRow[]> {
    return queryRows<InstanceRow>(
      manager,
      `SELECT instance_id AS "instanceId", loaded_version::text AS "loadedVersion",
              loaded_key_ids AS "loadedKeyIds", primary_key_id AS "primaryKeyId"
         FROM key_registry_instances WHERE seen_at > now() - make_interval(secs => $1)
        ORDER BY instance_id`,
      [liveSeconds],
    );
  }
}
