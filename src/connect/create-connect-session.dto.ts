import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';

export class CreateConnectSessionDto {
  @ApiProperty({ example: 'google_drive' })
  @IsString()
  @Matches(/^[a-z][a-z0-9_-]{1,63}$/, { message: 'provider must be a lowercase slug of 2 to 64 characters' })
  provider: string;

  @ApiPropertyOptional({ description: 'Space-separated; the provider client’s scope when absent' })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  @Matches(/^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/, {
    message: 'scope must be space-separated scope tokens (RFC 6749 §3.3)',
  })
  scope?: string;

  @ApiPropertyOptional({ description: 'Where the browser lands: an origin of CONNECT_RETURN_ORIGINS' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  returnTo?: string;

  @ApiPropertyOptional({ description: 'Reconnect this account of the user: same id, new tokens' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(2 ** 31 - 1)
  accountId?: number;
}
