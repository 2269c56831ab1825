import { Column, Entity, PrimaryColumn } from 'typeorm';

export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** The OAuth client this service uses at one provider; the secret is an envelope bound to the provider. */
@Entity({ name: 'provider_clients' })
export class ProviderClient {
  @PrimaryColumn({ type: 'text' })
  provider: string;

  @Column({ name: 'token_url', type: 'text' })
  tokenUrl: string;

  @Column({ name: 'revocation_url', type: 'text', nullable: true })
  revocationUrl: string | null;

  @Column({ name: 'client_id', type: 'text' })
  clientId: string;

  /** v3 envelope bound to the provider name (plaintext only when no key is configured). */
  @Column({ name: 'client_secret', type: 'text', select: false })
  clientSecret: string;

  @Column({ name: 'client_auth', type: 'text' })
  clientAuth: ClientAuthMethod;

  @Column({ type: 'text', nullable: true })
  scope: string | null;

  @Column({ type: 'integer', default: 1 })
  version: number;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
