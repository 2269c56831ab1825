import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { iso } from '../common/iso-time';
import { CALLER_SCOPES, type CallerScope } from './caller';
import type { CallerRow, SecretRow } from './service-clients.repository';

/** An active secret, named by its prefix: never the secret or its digest. */
export class CallerSecretView {
  @ApiProperty({ description: 'The 8 hex characters after `ccs_`: names the secret, cannot be used as one' })
  prefix: string;
  @ApiProperty() createdAt: string;
  @ApiPropertyOptional({ nullable: true, description: 'Set while a rotation replaces this secret' })
  expiresAt: string | null;
  @ApiPropertyOptional({ nullable: true }) lastUsedAt: string | null;
}

export class CallerView {
  @ApiProperty() name: string;
  @ApiProperty({ enum: CALLER_SCOPES, isArray: true }) scopes: CallerScope[];
  @ApiPropertyOptional({ nullable: true, type: [String], description: 'null: every provider' })
  providers: string[] | null;
  @ApiProperty() createdAt: string;
  @ApiProperty() createdBy: string;
  @ApiPropertyOptional({ nullable: true }) lastUsedAt: string | null;
  @ApiPropertyOptional({ nullable: true }) disabledAt: string | null;
  @ApiPropertyOptional({ nullable: true }) disabledBy: string | null;
  @ApiProperty({ type: [CallerSecretView], description: 'Two during a rotation, none once disabled' })
  secrets: CallerSecretView[];
}

/** The answer that shows a secret: once, when it is made. */
export class CallerWithSecretView extends CallerView {
  @ApiProperty({ description: 'The new secret: shown this once, stored only as a digest' })
  secret: string;
}

export function toCallerView(row: CallerRow, secrets: SecretRow[]): CallerView {
  return {
    name: row.name,
    scopes: row.scopes,
    providers: row.providers,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
    lastUsedAt: iso(row.lastUsedAt),
    disabledAt: iso(row.disabledAt),
    disabledBy: row.disabledBy,
    secrets: secrets
      .filter((secret) => secret.clientId === row.id)
      .map((secret) => ({
        prefix: secret.prefix,
        createdAt: secret.createdAt.toISOString(),
        expiresAt: iso(secret.expiresAt),
        lastUsedAt: iso(secret.lastUsedAt),
      })),
  };
}
