import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import type { TokenSet } from '../token-set';
import { IsEmailAddress, IsStorable } from './is-storable.validator';
import { IsTokenSet } from './is-token-set.validator';
import { TOKEN_SET_SCHEMA } from './token-set.schema';

export class CreateExternalAccountDto {
  @ApiProperty({ example: 'google_drive', description: 'Provider slug: lowercase letters, digits, _ and -' })
  @IsString()
  @Matches(/^[a-z][a-z0-9_-]{1,63}$/, { message: 'provider must be a lowercase slug of 2 to 64 characters' })
  provider: string;

  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @IsStorable()
  displayName?: string;

  @ApiPropertyOptional({ maxLength: 320 })
  @IsOptional()
  @IsEmailAddress()
  @MaxLength(320)
  email?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  @IsStorable()
  providerMetadata?: Record<string, unknown>;

  @ApiProperty(TOKEN_SET_SCHEMA)
  @IsTokenSet()
  tokens: TokenSet;
}
