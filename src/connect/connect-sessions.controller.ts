import { Body, Controller, Get, Param, ParseUUIDPipe, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { IdParamPipe } from '../common/id-param.pipe';
import { requestInvalid } from '../common/validation.pipe';
import { ServiceTokenGuard } from '../connectors/service-token.guard';
import { ConnectOutcomes } from './connect-outcomes';
import { ConnectSessionsService } from './connect-sessions.service';
import { CreateConnectSessionDto } from './create-connect-session.dto';

const sessionIdPipe = new ParseUUIDPipe({
  version: '4',
  exceptionFactory: () => requestInvalid(['id: must be a connect session id']),
});

@ApiTags('connect')
@ApiBearerAuth('service')
@UseGuards(ServiceTokenGuard)
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
    @Req() request: Request,
  ) {
    const session = await this.sessions.create(userId, body);
    this.outcomes.record(request, session.provider, 'created', 201);
    return session;
  }

  @Get(':id')
  @ApiOperation({ summary: 'The state of a connect session, for callers that poll' })
  @ApiOkResponse({ description: '{id, provider, status, accountId?, error?, expiresAt}' })
  get(@Param('userId', IdParamPipe) userId: number, @Param('id', sessionIdPipe) id: string) {
    return this.sessions.get(userId, id);
  }
}
