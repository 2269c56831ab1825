import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  registerDecorator,
  ValidateIf,
  type ValidationOptions,
} from 'class-validator';
import { IsStorable } from '../connectors/dto/is-storable.validator';
import { ENDPOINT_URL_RULE, isEndpointUrl } from '../providers/endpoint-url';
import {
  CLIENT_AUTH_METHODS,
  PKCE_METHODS,
  SCOPE_SEPARATORS,
  TOKEN_REQUEST_FORMATS,
  type ClientAuthMethod,
  type PkceMethod,
  type ScopeSeparator,
  type TokenRequestFormat,
} from '../providers/provider-client.entity';

/** The parameters the flow sets itself: an authorize URL never takes them from the settings. */
export const FLOW_PARAMETERS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'state',
  'code_challenge',
  'code_challenge_method',
  'scope',
] as const;

const PARAM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_PARAMS = 20;
const AUTHORIZATION_PARAMS_RULE =
  `must be an object of at most ${MAX_PARAMS} string values (names of letters, digits, _ . -; values up to ` +
  `1024 printable characters), without ${FLOW_PARAMETERS.join(', ')}`;

function isAuthorizationParams(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length <= MAX_PARAMS &&
    entries.every(
      ([name, text]) =>
        PARAM_NAME.test(name) &&
        !(FLOW_PARAMETERS as readonly string[]).includes(name) &&
        typeof text === 'string' &&
        /^[\x20-\x7e]{0,1024}$/.test(text),
    )
  );
}

function IsAuthorizationParams(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isAuthorizationParams',
      target: target.constructor,
      propertyName,
      options,
      validator: {
        validate: (value: unknown) => isAuthorizationParams(value),
        defaultMessage: () => `authorizationParams ${AUTHORIZATION_PARAMS_RULE}`,
      },
    });
}

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
  @ApiPropertyOptional({
    example: 'https://oauth2.googleapis.com/token',
    description: 'Required unless `issuer` is set, whose metadata then gives the endpoints',
  })
  @ValidateIf((dto: PutProviderClientDto) => dto.tokenUrl !== undefined || dto.issuer === undefined)
  @IsEndpointUrl()
  tokenUrl?: string;

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

  @ApiPropertyOptional({ example: 'https://accounts.google.com/o/oauth2/v2/auth' })
  @IsOptional()
  @IsEndpointUrl()
  authorizationUrl?: string;

  @ApiPropertyOptional({
    example: 'https://accounts.google.com',
    description:
      'The authorization server’s issuer: compared with `iss` in authorization responses (RFC 9207); ' +
      'without `tokenUrl`, its metadata fills the endpoints',
  })
  @IsOptional()
  @IsEndpointUrl()
  @Matches(/^[^?]*$/, { message: 'issuer must not have a query' })
  issuer?: string;

  @ApiPropertyOptional({ description: 'Read after the code exchange for `email` and `name`' })
  @IsOptional()
  @IsEndpointUrl()
  userinfoUrl?: string;

  @ApiPropertyOptional({ enum: SCOPE_SEPARATORS, default: ' ' })
  @IsOptional()
  @IsIn(SCOPE_SEPARATORS, { message: 'scopeSeparator must be a space or a comma' })
  scopeSeparator?: ScopeSeparator;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { access_type: 'offline', prompt: 'consent' },
  })
  @IsOptional()
  @IsAuthorizationParams()
  authorizationParams?: Record<string, string>;

  @ApiPropertyOptional({ enum: PKCE_METHODS, default: 'S256' })
  @IsOptional()
  @IsIn(PKCE_METHODS, { message: `pkce must be one of ${PKCE_METHODS.join(', ')}` })
  pkce?: PkceMethod;

  @ApiPropertyOptional({ enum: TOKEN_REQUEST_FORMATS, default: 'form' })
  @IsOptional()
  @IsIn(TOKEN_REQUEST_FORMATS, {
    message: `tokenRequestFormat must be one of ${TOKEN_REQUEST_FORMATS.join(', ')}`,
  })
  tokenRequestFormat?: TokenRequestFormat;
}
