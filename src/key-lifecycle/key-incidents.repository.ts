import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { queryRows } from '../database/query-rows';
import type { KeyIncident } from './key-incident.entity';

const INCIDENT_COLUMNS = `key_id AS "keyId", mode, replacement_key_id AS "replacementKeyId",
  rotation_job_id AS "rotationJobId", accounts_matched AS "accountsMatched",
  provider_secrets_matched AS "providerSecretsMatched", connect_sessions_ended AS "connectSessionsEnded",
  last_error_code AS "lastErrorCode", started_by AS "startedBy", started_at AS "startedAt",
  updated_at AS "updatedAt", finished_at AS "finishedAt"`;

export type NewKeyIncident = Pick<
  KeyIncident,
  'keyId' | 'mode' | 'accountsMatched' | 'providerSecretsMatched' | 'startedBy'
>;

/** Every statement over `key_incidents`. */
@Injectable()
export class KeyIncidentsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async find(keyId: string): Promise<KeyIncident | undefined> {
    const [row] = await queryRows<KeyIncident>(
      this.dataSource.manager,
      `SELECT ${INCIDENT_COLUMNS} FROM key_incidents WHERE key_id = $1`,
      [keyId],
    );
    return row;
  }

  /**
   * The incident of the key: the one already recorded (open again, its last error cleared for
   * the run that starts), or a new one with the counts under the key now.
   */
  async open(incident: NewKeyIncident): Promise<KeyIncident> {
    const [row] = await queryRows<KeyIncident>(
      this.dataSource.manager,
      `INSERT INTO key_incidents (key_id, mode, accounts_matched, provider_secrets_matched, started_by)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (key_id) DO UPDATE SET finished_at = NULL, last_error_code = NULL, updated_at = now()
       RETURNING ${INCIDENT_COLUMNS}`,
      [
        incident.keyId,
        incident.mode,
        incident.accountsMatched,
        incident.providerSecretsMatched,
        incident.startedBy,
      ],
    );
    return row;
  }

  /**
   * In the transaction that adds the replacement key: false when another run recorded one first,
   * and that transaction must then roll back so only one key is ever added.
   */
  async recordReplacement(manager: EntityManager, keyId: string, replacementKeyId: string): Promise<boolean> {
    const rows = await queryRows(
      manager,
      `UPDATE key_incidents SET replacement_key_id = $2, updated_at = now()
        WHERE key_id = $1 AND replacement_key_id IS NULL RETURNING key_id`,
      [keyId, replacementKeyId],
    );
    return rows.length === 1;
  }

  async recordJob(keyId: string, rotationJobId: number): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      `UPDATE key_incidents SET rotation_job_id = $2, updated_at = now() WHERE key_id = $1`,
      [keyId, rotationJobId],
    );
  }

  async addEndedSessions(keyId: string, ended: number): Promise<void> {
    if (ended === 0) return;
    await queryRows(
      this.dataSource.manager,
      `UPDATE key_incidents SET connect_sessions_ended = connect_sessions_ended + $2, updated_at = now()
        WHERE key_id = $1`,
      [keyId, ended],
    );
  }

  /** `null` clears it: the step that had failed went through. */
  async recordError(keyId: string, code: string | null): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      `UPDATE key_incidents SET last_error_code = $2, updated_at = now() WHERE key_id = $1`,
      [keyId, code],
    );
  }

  async finish(keyId: string): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      `UPDATE key_incidents SET finished_at = COALESCE(finished_at, now()), last_error_code = NULL,
              updated_at = now()
        WHERE key_id = $1`,
      [keyId],
    );
  }
}
