import { Column, Entity, PrimaryColumn } from 'typeorm';

export type KeyMode = 'env' | 'registry';

/** A key believed leaked and what its incident did so far. Written by KeyIncidentsRepository alone. */
@Entity({ name: 'key_incidents' })
export class KeyIncident {
  @PrimaryColumn({ name: 'key_id', type: 'text' })
  keyId: string;

  @Column({ type: 'text' })
  mode: KeyMode;

  /** Registry mode: the key this incident added and promoted in the leaked key's place. */
  @Column({ name: 'replacement_key_id', type: 'text', nullable: true })
  replacementKeyId: string | null;

  /** The rotation job that moves what the key seals; the latest one when a run started another. */
  @Column({ name: 'rotation_job_id', type: 'integer', nullable: true })
  rotationJobId: number | null;

  /** Accounts sealed under the key (or legacy v1, which may need it) when the incident started. */
  @Column({ name: 'accounts_matched', type: 'integer' })
  accountsMatched: number;

  @Column({ name: 'provider_secrets_matched', type: 'integer' })
  providerSecretsMatched: number;

  @Column({ name: 'connect_sessions_ended', type: 'integer' })
  connectSessionsEnded: number;

  /** Why the last run stopped short (an error code), cleared by the next step that succeeds. */
  @Column({ name: 'last_error_code', type: 'text', nullable: true })
  lastErrorCode: string | null;

  @Column({ name: 'started_by', type: 'text' })
  startedBy: string;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}
