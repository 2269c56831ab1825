import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One secret of a caller: its non-secret prefix and the SHA-256 digest of the whole secret,
 * cleared when the secret is retired. `expiresAt` is set when a rotation replaces it.
 */
@Entity({ name: 'service_client_secrets' })
export class ServiceClientSecret {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ name: 'client_id', type: 'integer' })
  clientId: number;

  @Column({ type: 'text' })
  prefix: string;

  @Column({ type: 'text', nullable: true })
  digest: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  @Column({ name: 'retired_at', type: 'timestamptz', nullable: true })
  retiredAt: Date | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;
}
