import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpException,
  Param,
  Post,
  Put,
  Query,
  Req,
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
import type { Request, Response } from 'express';
import { TokenReadAuditService, type TokenReadAnswer } from '../audit/token-read-audit.service';
import { allowsProvider, type Caller } from '../callers/caller';
import { CallerGuard } from '../callers/caller.guard';
import { CallerProviderNotAllowedError } from '../callers/callers.errors';
import { CurrentCaller, RequiresScope } from '../callers/requires-scope.decorator';
import { databaseErrorCodeOf } from '../common/database-errors';
import { IdParamPipe } from '../common/id-param.pipe';
import { requestInvalid } from '../common/validation.pipe';
import { DISCONNECT_OUTCOMES, type DisconnectOutcome } from './account-events';
import { AccountView, toAccountView } from './account-view';
import { CreateExternalAccountDto } from './dto/create-external-account.dto';
import { TOKEN_SET_SCHEMA } from './dto/token-set.schema';
import { TokenSetPipe } from './dto/token-set.pipe';
import { ACCOUNT_STATUSES, type AccountStatus } from './external-account.entity';
import { AccountOutsideCallerProvidersError } from './external-account.errors';
import { ExternalAccountsService } from './external-accounts.service';
import type { TokenRead, TokenSet } from './token-set';

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

/** How a refused token read is recorded: an account outside the caller's providers as what it is. */
function refusalOf(error: unknown): TokenReadAnswer {
  if (error instanceof AccountOutsideCallerProvidersError)
    return { outcome: 'refused', provider: error.provider, code: 'CALLER_PROVIDER_NOT_ALLOWED' };
  const code = error instanceof HttpException ? `HTTP_${error.getStatus()}` : databaseErrorCodeOf(error);
  return { outcome: 'refused', provider: null, code };
}

/**
 * Each route requires one caller scope; a caller limited to providers reaches only accounts of
 * those (another provider's account is not found). Every token read is recorded.
 */
@ApiTags('accounts')
@ApiBearerAuth('service')
@UseGuards(CallerGuard)
@Controller('users/:userId/accounts')
export class ExternalAccountsController {
  constructor(
    private readonly accounts: ExternalAccountsService,
    private readonly tokenReads: TokenReadAuditService,
  ) {}

  @Post()
  @RequiresScope('accounts:write')
  @ApiOperation({ summary: 'Link an account and store its tokens' })
  @ApiOkResponse({ type: AccountView })
  async create(
    @Param('userId', IdParamPipe) userId: number,
    @Body() body: CreateExternalAccountDto,
    @CurrentCaller() caller: Caller,
  ) {
    const { provider, tokens, ...profile } = body;
    if (!allowsProvider(caller, provider)) throw new CallerProviderNotAllowedError(caller.name, provider);
    return toAccountView(await this.accounts.createAccount(userId, provider, tokens, profile));
  }

  @Get()
  @RequiresScope('accounts:read')
  @ApiOperation({ summary: "List a user's accounts (metadata only), of the caller's providers" })
  @ApiQuery({ name: 'status', required: false, enum: ACCOUNT_STATUSES })
  @ApiOkResponse({ type: [AccountView] })
  async list(
    @Param('userId', IdParamPipe) userId: number,
    @Query('status') status: string | undefined,
    @CurrentCaller() caller: Caller,
  ) {
    const accounts = await this.accounts.listAccounts(userId, parseStatus(status), caller);
    return accounts.map(toAccountView);
  }

  @Get(':id')
  @RequiresScope('accounts:read')
  @ApiOperation({ summary: 'One account (metadata only); ETag is its version' })
  @ApiOkResponse({ type: AccountView })
  async get(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', IdParamPipe) id: number,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) response: Response,
  ) {
    const account = await this.accounts.getAccount(userId, id, caller);
    response.setHeader('ETag', `"${account.version}"`);
    return toAccountView(account);
  }

  @Get(':id/tokens')
  @RequiresScope('tokens:read')
  @ApiOperation({
    summary: 'The decrypted token set; with minValidity, refreshed first when it expires sooner',
  })
  @ApiQuery({ name: 'minValidity', required: false, description: 'seconds the access token must stay valid' })
  @ApiOkResponse({ schema: TOKEN_SET_SCHEMA as object })
  async tokens(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', IdParamPipe) id: number,
    @Query('minValidity') minValidity: string | undefined,
    @CurrentCaller() caller: Caller,
    @Req() request: Request,
  ) {
    const minValiditySeconds = parseMinValidity(minValidity);
    return this.recorded(request, caller, userId, id, () =>
      this.accounts.readTokens(userId, id, { minValiditySeconds, providers: caller.providers }),
    );
  }

  @Post(':id/tokens/refresh')
  @RequiresScope('tokens:refresh')
  @HttpCode(200)
  @ApiOperation({ summary: 'Refresh at the provider now; concurrent calls share one refresh' })
  @ApiOkResponse({ schema: TOKEN_SET_SCHEMA as object })
  async refresh(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', IdParamPipe) id: number,
    @CurrentCaller() caller: Caller,
    @Req() request: Request,
  ) {
    return this.recorded(request, caller, userId, id, () =>
      this.accounts.refreshTokenRead(userId, id, caller),
    );
  }

  /** A token read, admitted by the audit trail (503 while fail-closed and it cannot record) and recorded. */
  private async recorded(
    request: Request,
    caller: Caller,
    userId: number,
    id: number,
    read: () => Promise<TokenRead>,
  ): Promise<TokenSet> {
    const finish = this.tokenReads.begin(request, caller.name, userId, id);
    let result: TokenRead;
    try {
      result = await read();
    } catch (error) {
      finish(refusalOf(error));
      throw error;
    }
    finish({ outcome: result.refreshed ? 'refreshed' : 'served', provider: result.provider, code: null });
    return result.tokens;
  }

  @Put(':id/tokens')
  @RequiresScope('accounts:write')
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
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) response: Response,
  ) {
    const expected = parseIfMatch(ifMatch);
    const account = await this.accounts.updateAccountTokens(userId, id, tokens, expected, caller);
    response.setHeader('ETag', `"${account.version}"`);
    return toAccountView(account);
  }

  @Delete(':id')
  @RequiresScope('accounts:write')
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
    @CurrentCaller() caller: Caller,
  ): Promise<DisconnectView> {
    return this.accounts.deleteAccount(userId, id, {
      revoke: parseRevoke(revoke),
      providers: caller.providers,
    });
  }
}
