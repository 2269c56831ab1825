import type { ApiPropertyOptions } from '@nestjs/swagger';
import { MAX_TOKEN_LENGTH } from '../token-set';

/** OpenAPI description of a token set: the known OAuth fields plus provider extras. */
export const TOKEN_SET_SCHEMA: ApiPropertyOptions = {
  type: 'object',
  required: ['access_token'],
  additionalProperties: true,
  properties: {
    access_token: { type: 'string', maxLength: MAX_TOKEN_LENGTH },
    refresh_token: { type: 'string', maxLength: MAX_TOKEN_LENGTH, nullable: true },
    token_type: { type: 'string', example: 'Bearer' },
    expires_in: { type: 'integer', description: 'seconds' },
    expires_at: {
      type: 'integer',
      description: 'Unix time in seconds; computed from expires_in when absent',
    },
    scope: { type: 'string' },
  },
};
