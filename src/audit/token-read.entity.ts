import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const TOKEN_READ_OUTCOMES = ['served', 'refreshed', 'refused'] as const;
export type TokenReadOutcome = (typeof TOKEN_READ_OUTCOMES)[number];

/**
 * One attempt to read an account's tokens through a service route: who (the caller's name),
 * whose account, which route, and what came of it. Never a token or a secret.
 */
@Entity({ name: 'token_read_audit' })
export class TokenReadRecord {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  /** When the read was answered, by the clock of the instance that answered it. */
  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt: Date;

  @Column({ type: 'text' })
  caller: string;

  @Column({ name: 'user_id', type: 'integer', nullable: true })
  userId: number | null;

  @Column({ name: 'account_id', type: 'integer', nullable: true })
  accountId: number | null;

  /** The account's provider, when the read got as far as the account. */
  @Column({ type: 'text', nullable: true })
  provider: string | null;

  /** Method and route template: `GET /users/:userId/accounts/:id/tokens`. */
  @Column({ type: 'text' })
  route: string;

  @Column({ type: 'text' })
  outcome: TokenReadOutcome;

  /** Why a read was refused: an error code of this service. */
  @Column({ type: 'text', nullable: true })
  code: string | null;

  @Column({ name: 'request_id', type: 'text', nullable: true })
  requestId: string | null;
}

/** A record to write: the database allocates the id. */
export type TokenReadRow = Omit<TokenReadRecord, 'id'>;
