import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { IdParamPipe } from '../common/id-param.pipe';
import { requestInvalid } from '../common/validation.pipe';
import { DISCONNECT_OUTCOMES, type DisconnectOutcome } from './account-events';
import { AccountView, toAccountView } from './account-view';
import { CreateExternalAccountDto } from './dto/create-external-account.dto';
import { TOKEN_SET_SCHEMA } from './dto/token-set.schema';
import { TokenSetPipe } from './dto/token-set.pipe';
import { ACCOUNT_STATUSES, type AccountStatus } from './external-account.entity';
import { ExternalAccountsService } from './external-accounts.service';
import { ServiceTokenGuard } from './service-token.guard';
import type { TokenSet } from './token-set';

/** `If-Match: 3`, `"3"` or `W/"3"`; undefined when absent or `*` (any current version, RFC 9110). */
function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?([1-9][0-9]{0,9})"?\s*$/.exec(header);
  if (!match || Number(match[1]) > 2 ** 31 - 1) {
    throw requestInvalid(['If-Match: must be a version number']);
  }
  return Number(match[1]);
}

const MAX_MIN_VALIDITY = 86400;

/** `?minValidity=SECONDS`: a whole number of seconds up to a day; undefined when absent. */
function parseMinValidity(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) > MAX_MIN_VALIDITY) {
    throw requestInvalid([`minValidity: must be a whole number of seconds from 0 to ${MAX_MIN_VALIDITY}`]);
  }
  return Number(value);
}

function parseRevoke(value: string | undefined): boolean {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  throw requestInvalid(['revoke: must be true or false']);
}

class DisconnectView {
  @ApiProperty() id: number;
  @ApiProperty({ enum: DISCONNECT_OUTCOMES, description: 'What happened to the grant at the provider' })
  revocation: DisconnectOutcome;
}

function parseStatus(value: string | undefined): AccountStatus | undefined {
  if (value === undefined) return undefined;
  if (!(ACCOUNT_STATUSES as readonly string[]).includes(value)) {
    throw requestInvalid([`status: must be one of ${ACCOUNT_STATUSES.join(', ')}`]);
  }
  return value as AccountStatus;
}

@ApiTags('accounts')
@ApiBearerAuth('service')
@UseGuards(ServiceTokenGuard)
@Controller('users/:userId/accounts')
export class ExternalAccountsController {
  constructor(private readonly accounts: ExternalAccountsService) {}

  @Post()
  @ApiOperation({ summary: 'Link an account and store its tokens' })
  @ApiOkResponse({ type: AccountView })
  async create(@Param('userId', IdParamPipe) userId: number, @Body() body: CreateExternalAccountDto) {
    const { provider, tokens, ...profile } = body;
    return toAccountView(await this.accounts.createAccount(userId, provider, tokens, profile));
  }

  @Get()
  @ApiOperation({ summary: "List a user's accounts (metadata only)" })
  @ApiQuery({ name: 'status', required: false, enum: ACCOUNT_STATUSES })
  @ApiOkResponse({ type: [AccountView] })
  async list(@Param('userId', IdParamPipe) userId: number, @Query('status') status: string | undefined) {
    return (await this.accounts.listAccounts(userId, parseStatus(status))).map(toAccountView);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One account (metadata only); ETag is its version' })
  @ApiOkResponse({ type: AccountView })
  async get(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', IdParamPipe) id: number,
    @Res({ passthrough: true }) response: Response,
  ) {
    const account = await this.accounts.getAccount(userId, id);
    response.setHeader('ETag', `"${account.version}"`);
    return toAccountView(account);
  }

  @Get(':id/tokens')
  @ApiOperation({
    summary: 'The decrypted token set; with minValidity, refreshed first when it expires sooner',
  })
  @ApiQuery({ name: 'minValidity', required: false, description: 'seconds the access token must stay valid' })
  @ApiOkResponse({ schema: TOKEN_SET_SCHEMA as object })
  async tokens(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', IdParamPipe) id: number,
    @Query('minValidity') minValidity: string | undefined,
  ) {
    return this.accounts.getFreshTokens(userId, id, { minValiditySeconds: parseMinValidity(minValidity) });
  }

  @Post(':id/tokens/refresh')
  @HttpCode(200)
  @ApiOperation({ summary: 'Refresh at the provider now; concurrent calls share one refresh' })
  @ApiOkResponse({ schema: TOKEN_SET_SCHEMA as object })
  async refresh(@Param('userId', IdParamPipe) userId: number, @Param('id', IdParamPipe) id: number) {
    return this.accounts.refreshTokens(userId, id);
  }

  @Put(':id/tokens')
  @ApiOperation({
    summary: 'Replace the tokens (refresh token kept when absent); If-Match guards the version',
  })
  @ApiHeader({ name: 'If-Match', required: false, description: 'Expected version; 412 when stale' })
  @ApiBody({ schema: TOKEN_SET_SCHEMA as object })
  @ApiOkResponse({ type: AccountView })
  async updateTokens(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', IdParamPipe) id: number,
    @Body(TokenSetPipe) tokens: TokenSet,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ) {
    const account = await this.accounts.updateAccountTokens(userId, id, tokens, parseIfMatch(ifMatch));
    response.setHeader('ETag', `"${account.version}"`);
    return toAccountView(account);
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Revoke the grant at the provider (RFC 7009), then unlink the account and erase its tokens',
    description:
      'revocation: revoked, not_supported, refused, skipped (revoke=false), or pending: the provider did ' +
      'not answer, the account is revoking (no token served) until the revocation worker revokes and ' +
      'deletes it, or gives up after REVOCATION_MAX_HOURS. A revoking account answers pending again; ' +
      'revoke=false deletes it at once.',
  })
  @ApiQuery({
    name: 'revoke',
    required: false,
    enum: ['true', 'false'],
    description: 'false: do not ask the provider',
  })
  @ApiOkResponse({ type: DisconnectView })
  async remove(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', IdParamPipe) id: number,
    @Query('revoke') revoke: string | undefined,
  ): Promise<DisconnectView> {
    return this.accounts.deleteAccount(userId, id, { revoke: parseRevoke(revoke) });
  }
}
