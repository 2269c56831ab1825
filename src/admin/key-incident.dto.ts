import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';

export class KeyIncidentDto {
  @ApiProperty({ example: '0123456789abcdef', description: 'The key id believed leaked (16 hex characters)' })
  @IsString()
  @Matches(/^[0-9a-f]{16}$/, { message: 'must be a key id: 16 lowercase hex characters' })
  kid: string;
}
