import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { CALLER_NAME, CALLER_SCOPES, type CallerScope } from '../callers/caller';

/** Same slug rule as an account's provider. */
const PROVIDER = /^[a-z][a-z0-9_-]{1,63}$/;

export class CreateClientDto {
  @ApiProperty({ example: 'sync-worker', description: 'Lowercase slug of 2 to 64 characters' })
  @IsString()
  @Matches(CALLER_NAME, { message: 'must be a lowercase slug of 2 to 64 characters' })
  name: string;

  @ApiProperty({ enum: CALLER_SCOPES, isArray: true, example: ['accounts:read', 'tokens:read'] })
  @IsArray()
  @ArrayMinSize(1, { message: 'must hold at least one scope' })
  @ArrayMaxSize(CALLER_SCOPES.length)
  @IsIn(CALLER_SCOPES, { each: true, message: `each must be one of ${CALLER_SCOPES.join(', ')}` })
  scopes: CallerScope[];

  @ApiPropertyOptional({
    type: [String],
    example: ['google_drive'],
    description: 'Only accounts of these providers; absent: every provider',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1, { message: 'must hold at least one provider when given' })
  @ArrayMaxSize(100)
  @Matches(PROVIDER, { each: true, message: 'each must be a provider slug (lowercase, 2 to 64 characters)' })
  providers?: string[];
}
