import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

/**
 * A linked third-party account. Column names and types are those of the original service's
 * table, so an existing database is adopted in place; `version` and `token_key_id` are ours.
 */
@Entity({ name: 'external_accounts' })
export class ExternalAccount {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id: number;

  @Column({ name: 'user_id', type: 'integer' })
  userId: number;

  @Column({ type: 'text' })
  provider: string;

  @Column({ name: 'display_name', type: 'text', nullable: true })
  displayName: string | null;

  @Column({ type: 'text', nullable: true })
  email: string | null;

  /** v2 envelope (or legacy v1 envelope, or plaintext token in unencrypted mode). */
  @Column({ name: 'access_token', type: 'text', nullable: true, select: false })
  accessToken: string | null;

  /** NULL once sealed: the refresh token lives inside the envelope. */
  @Column({ name: 'refresh_token', type: 'text', nullable: true, select: false })
  refreshToken: string | null;

  @Column({ type: 'text', nullable: true })
  scopes: string | null;

  @Column({ name: 'token_expires_at', type: 'timestamp', nullable: true })
  tokenExpiresAt: Date | null;

  @Column({ name: 'provider_metadata', type: 'jsonb', nullable: true })
  providerMetadata: Record<string, unknown> | null;

  @Column({ name: 'token_key_id', type: 'varchar', length: 32 })
  tokenKeyId: string;

  @Column({ type: 'integer', default: 1 })
  version: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamp' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamp' })
  updatedAt: Date;
}
