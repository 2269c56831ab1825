import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

const MAX_ID = 2 ** 31 - 1;

/** Which grants are believed leaked: one provider's, optionally one user's or one account. */
export class GrantIncidentDto {
  @ApiProperty({ example: 'google_drive' })
  @Matches(/^[a-z][a-z0-9_-]{1,63}$/, { message: 'provider must be a lowercase slug of 2 to 64 characters' })
  provider: string;

  @ApiPropertyOptional({ description: "Only this user's accounts" })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_ID)
  userId?: number;

  @ApiPropertyOptional({ description: 'Only this account' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_ID)
  accountId?: number;
}
