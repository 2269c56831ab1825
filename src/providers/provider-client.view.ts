import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CLIENT_AUTH_METHODS, type ClientAuthMethod, type ProviderClient } from './provider-client.entity';

/** A provider client as the admin API shows it: never the secret, only how it is stored. */
export class ProviderClientView {
  @ApiProperty() provider: string;
  @ApiProperty() tokenUrl: string;
  @ApiPropertyOptional({ nullable: true }) revocationUrl: string | null;
  @ApiProperty() clientId: string;
  @ApiProperty({ enum: CLIENT_AUTH_METHODS }) clientAuth: ClientAuthMethod;
  @ApiPropertyOptional({ nullable: true }) scope: string | null;
  @ApiProperty({ description: 'Key id of the sealed client secret, or "plaintext"' })
  secretKeyId: string;
  @ApiProperty() version: number;
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
}

export function toProviderClientView(client: ProviderClient, secretKeyId: string): ProviderClientView {
  return {
    provider: client.provider,
    tokenUrl: client.tokenUrl,
    revocationUrl: client.revocationUrl,
    clientId: client.clientId,
    clientAuth: client.clientAuth,
    scope: client.scope,
    secretKeyId,
    version: client.version,
    createdAt: new Date(client.createdAt).toISOString(),
    updatedAt: new Date(client.updatedAt).toISOString(),
  };
}
