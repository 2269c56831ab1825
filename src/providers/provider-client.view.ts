import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  CLIENT_AUTH_METHODS,
  PKCE_METHODS,
  SCOPE_SEPARATORS,
  TOKEN_REQUEST_FORMATS,
  type ClientAuthMethod,
  type PkceMethod,
  type ProviderClient,
  type ScopeSeparator,
  type TokenRequestFormat,
} from './provider-client.entity';

/** A provider client as the admin API shows it: never the secret, only how it is stored. */
export class ProviderClientView {
  @ApiProperty() provider: string;
  @ApiProperty() tokenUrl: string;
  @ApiPropertyOptional({ nullable: true }) revocationUrl: string | null;
  @ApiProperty() clientId: string;
  @ApiProperty({ enum: CLIENT_AUTH_METHODS }) clientAuth: ClientAuthMethod;
  @ApiPropertyOptional({ nullable: true }) scope: string | null;
  @ApiPropertyOptional({ nullable: true }) authorizationUrl: string | null;
  @ApiPropertyOptional({ nullable: true }) issuer: string | null;
  @ApiProperty({ description: 'The metadata says the provider sends `iss` in authorization responses' })
  issuerSendsIss: boolean;
  @ApiPropertyOptional({ nullable: true }) userinfoUrl: string | null;
  @ApiProperty({ enum: SCOPE_SEPARATORS }) scopeSeparator: ScopeSeparator;
  @ApiPropertyOptional({ nullable: true, type: 'object', additionalProperties: { type: 'string' } })
  authorizationParams: Record<string, string> | null;
  @ApiProperty({ enum: PKCE_METHODS }) pkce: PkceMethod;
  @ApiProperty({ enum: TOKEN_REQUEST_FORMATS }) tokenRequestFormat: TokenRequestFormat;
  @ApiProperty({ description: 'Key id of the sealed client secret, or "plaintext"' })
  secretKeyId: string;
  @ApiProperty() version: number;
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
}

/** The settings of the authorization-code flow, as stored; read by the view and by the flow. */
export type ProviderFlowSettings = Pick<
  ProviderClient,
  | 'authorizationUrl'
  | 'issuer'
  | 'issuerSendsIss'
  | 'userinfoUrl'
  | 'scopeSeparator'
  | 'authorizationParams'
  | 'pkce'
>;

export function flowSettingsOf(client: ProviderClient): ProviderFlowSettings {
  return {
    authorizationUrl: client.authorizationUrl,
    issuer: client.issuer,
    issuerSendsIss: client.issuerSendsIss,
    userinfoUrl: client.userinfoUrl,
    scopeSeparator: client.scopeSeparator,
    authorizationParams: client.authorizationParams,
    pkce: client.pkce,
  };
}

export function toProviderClientView(client: ProviderClient, secretKeyId: string): ProviderClientView {
  return {
    provider: client.provider,
    tokenUrl: client.tokenUrl,
    revocationUrl: client.revocationUrl,
    clientId: client.clientId,
    clientAuth: client.clientAuth,
    scope: client.scope,
    ...flowSettingsOf(client),
    tokenRequestFormat: client.tokenRequestFormat,
    secretKeyId,
    version: client.version,
    createdAt: new Date(client.createdAt).toISOString(),
    updatedAt: new Date(client.updatedAt).toISOString(),
  };
}
