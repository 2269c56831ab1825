import { Column, Entity, PrimaryColumn } from 'typeorm';

export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
export const PKCE_METHODS = ['S256', 'none'] as const;
export type PkceMethod = (typeof PKCE_METHODS)[number];
export const TOKEN_REQUEST_FORMATS = ['form', 'json'] as const;
export type TokenRequestFormat = (typeof TOKEN_REQUEST_FORMATS)[number];
export const SCOPE_SEPARATORS = [' ', ','] as const;
export type ScopeSeparator = (typeof SCOPE_SEPARATORS)[number];

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

  @Column({ name: 'authorization_url', type: 'text', nullable: true })
  authorizationUrl: string | null;

  @Column({ type: 'text', nullable: true })
  issuer: string | null;

  /** The provider's metadata says it sends `iss` in authorization responses (RFC 9207). */
  @Column({ name: 'issuer_sends_iss', type: 'boolean', default: false })
  issuerSendsIss: boolean;

  @Column({ name: 'userinfo_url', type: 'text', nullable: true })
  userinfoUrl: string | null;

  @Column({ name: 'scope_separator', type: 'text', default: ' ' })
  scopeSeparator: ScopeSeparator;

  @Column({ name: 'authorization_params', type: 'jsonb', nullable: true })
  authorizationParams: Record<string, string> | null;

  @Column({ type: 'text', default: 'S256' })
  pkce: PkceMethod;

  @Column({ name: 'token_request_format', type: 'text', default: 'form' })
  tokenRequestFormat: TokenRequestFormat;

  @Column({ type: 'integer', default: 1 })
  version: number;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
