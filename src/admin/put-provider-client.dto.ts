import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  registerDecorator,
  type ValidationOptions,
} from 'class-validator';
import { IsStorable } from '../connectors/dto/is-storable.validator';
import { ENDPOINT_URL_RULE, isEndpointUrl } from '../providers/endpoint-url';
import { CLIENT_AUTH_METHODS, type ClientAuthMethod } from '../providers/provider-client.entity';

function IsEndpointUrl(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isEndpointUrl',
      target: target.constructor,
      propertyName,
      options,
      validator: {
        validate: (value: unknown) => isEndpointUrl(value),
        defaultMessage: () => ENDPOINT_URL_RULE,
      },
    });
}

export class PutProviderClientDto {
  @ApiProperty({ example: 'https://oauth2.googleapis.com/token' })
  @IsEndpointUrl()
  tokenUrl: string;

  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(512)
  @IsStorable()
  clientId: string;

  @ApiProperty({ writeOnly: true, description: 'Sealed at rest; never returned' })
  @IsString({ message: 'clientSecret must be a string' })
  @MinLength(1, { message: 'clientSecret must not be empty' })
  @MaxLength(4096, { message: 'clientSecret must be at most 4096 characters' })
  @IsStorable({ message: 'clientSecret must not contain NUL characters or unpaired surrogates' })
  clientSecret: string;

  @ApiPropertyOptional({ enum: CLIENT_AUTH_METHODS, default: 'client_secret_basic' })
  @IsOptional()
  @IsIn(CLIENT_AUTH_METHODS, { message: `clientAuth must be one of ${CLIENT_AUTH_METHODS.join(', ')}` })
  clientAuth?: ClientAuthMethod;

  @ApiPropertyOptional()
  @IsOptional()
  @IsEndpointUrl()
  revocationUrl?: string;

  @ApiPropertyOptional({ description: 'Sent as `scope` with every refresh request when set' })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  @Matches(/^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/, {
    message: 'scope must be space-separated scope tokens (RFC 6749 §3.3)',
  })
  scope?: string;
}
