import { Body, Controller, Get, Param, ParseUUIDPipe, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { allowsProvider, type Caller } from '../callers/caller';
import { CallerGuard } from '../callers/caller.guard';
import { CallerProviderNotAllowedError } from '../callers/callers.errors';
import { CurrentCaller, RequiresScope } from '../callers/requires-scope.decorator';
import { IdParamPipe } from '../common/id-param.pipe';
import { requestInvalid } from '../common/validation.pipe';
import { ConnectOutcomes } from './connect-outcomes';
import { ConnectSessionsService } from './connect-sessions.service';
import { ConnectSessionNotFoundError } from './connect.errors';
import { CreateConnectSessionDto } from './create-connect-session.dto';

const sessionIdPipe = new ParseUUIDPipe({
  version: '4',
  exceptionFactory: () => requestInvalid(['id: must be a connect session id']),
});

/** The `connect` scope; a caller limited to providers connects and sees only those. */
@ApiTags('connect')
@ApiBearerAuth('service')
@UseGuards(CallerGuard)
@RequiresScope('connect')
@Controller('users/:userId/connect-sessions')
export class ConnectSessionsController {
  constructor(
    private readonly sessions: ConnectSessionsService,
    private readonly outcomes: ConnectOutcomes,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Start connecting (or reconnecting) an account: the browser opens connectUrl' })
  @ApiCreatedResponse({ description: '{id, connectUrl, status: "pending", expiresAt}' })
  async create(
    @Param('userId', IdParamPipe) userId: number,
    @Body() body: CreateConnectSessionDto,
    @CurrentCaller() caller: Caller,
    @Req() request: Request,
  ) {
    if (!allowsProvider(caller, body.provider))
      throw new CallerProviderNotAllowedError(caller.name, body.provider);
    const session = await this.sessions.create(userId, body, caller);
    this.outcomes.record(request, session.provider, 'created', 201);
    return session;
  }

  @Get(':id')
  @ApiOperation({ summary: 'The state of a connect session, for callers that poll' })
  @ApiOkResponse({ description: '{id, provider, status, accountId?, error?, expiresAt}' })
  async get(
    @Param('userId', IdParamPipe) userId: number,
    @Param('id', sessionIdPipe) id: string,
    @CurrentCaller() caller: Caller,
  ) {
    const session = await this.sessions.get(userId, id);
    if (!allowsProvider(caller, session.provider)) throw new ConnectSessionNotFoundError();
    return session;
  }
}
