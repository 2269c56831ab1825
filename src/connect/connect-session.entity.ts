import { Column, Entity, PrimaryColumn } from 'typeorm';

export const CONNECT_STATUSES = ['pending', 'opened', 'connected', 'denied', 'failed', 'expired'] as const;
export type ConnectStatus = (typeof CONNECT_STATUSES)[number];

/**
 * One run of the authorization-code flow for one user and provider. The one-time values are
 * stored as digests and the PKCE verifier sealed; all are cleared when the session ends.
 */
@Entity({ name: 'connect_sessions' })
export class ConnectSession {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'user_id', type: 'integer' })
  userId: number;

  @Column({ type: 'text' })
  provider: string;

  /** The account to reconnect, or the one the session created. */
  @Column({ name: 'account_id', type: 'integer', nullable: true })
  accountId: number | null;

  @Column({ type: 'boolean', default: false })
  reconnect: boolean;

  @Column({ type: 'text', nullable: true })
  scope: string | null;

  @Column({ name: 'return_to', type: 'text', nullable: true })
  returnTo: string | null;

  @Column({ type: 'text', default: 'pending' })
  status: ConnectStatus;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ name: 'link_hash', type: 'text', nullable: true, select: false })
  linkHash: string | null;

  @Column({ name: 'state_hash', type: 'text', nullable: true, select: false })
  stateHash: string | null;

  @Column({ name: 'browser_hash', type: 'text', nullable: true, select: false })
  browserHash: string | null;

  /** v3 envelope bound to the session id, while the flow runs. */
  @Column({ name: 'code_verifier', type: 'text', nullable: true, select: false })
  codeVerifier: string | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
