import { Body, Controller, Get, HttpCode, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { setAuditSubject } from '../audit/admin-audit.middleware';
import { CallerView, CallerWithSecretView } from '../callers/caller.view';
import { CallersService } from '../callers/callers.service';
import { bearerTokenOf, fingerprintOf } from '../common/bearer-token';
import { AdminGuard } from './admin.guard';
import { CallerNamePipe } from './caller-name.pipe';
import { CreateClientDto } from './create-client.dto';
import { EmptyBodyDto } from './empty-body.dto';

function actorOf(request: Request): string {
  return `admin:${fingerprintOf(bearerTokenOf(request) as string)}`;
}

/**
 * Registered callers of the service routes. A secret is in the answer that makes it (add,
 * rotate) and nowhere else; each action names the caller in its audit row.
 */
@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/clients')
export class ClientsController {
  constructor(private readonly callers: CallersService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Register a caller with scopes (and providers); its secret is shown this once' })
  @ApiCreatedResponse({ type: CallerWithSecretView })
  add(@Body() body: CreateClientDto, @Req() request: Request) {
    setAuditSubject(request, body.name);
    return this.callers.add(body, actorOf(request));
  }

  @Get()
  @ApiOperation({ summary: 'Every registered caller: scopes, providers, secrets by prefix, last use' })
  @ApiOkResponse({ type: [CallerView] })
  list() {
    return this.callers.list();
  }

  @Get(':name')
  @ApiOkResponse({ type: CallerView })
  get(@Param('name', CallerNamePipe) name: string) {
    return this.callers.get(name);
  }

  @Post(':name/rotate')
  @HttpCode(200)
  @ApiOperation({
    summary: `A second secret, shown this once; the first works until rotate/finish or CLIENT_SECRET_OVERLAP_HOURS`,
  })
  @ApiOkResponse({ type: CallerWithSecretView })
  rotate(@Param('name', CallerNamePipe) name: string, @Body() _body: EmptyBodyDto, @Req() request: Request) {
    setAuditSubject(request, name);
    return this.callers.rotate(name, actorOf(request));
  }

  @Post(':name/rotate/finish')
  @HttpCode(200)
  @ApiOperation({ summary: 'Only the newest secret works from now on' })
  @ApiOkResponse({ type: CallerView })
  finish(@Param('name', CallerNamePipe) name: string, @Body() _body: EmptyBodyDto, @Req() request: Request) {
    setAuditSubject(request, name);
    return this.callers.finishRotation(name, actorOf(request));
  }

  @Post(':name/disable')
  @HttpCode(200)
  @ApiOperation({ summary: 'Refuse every secret of the caller from now on (final)' })
  @ApiOkResponse({ type: CallerView })
  disable(@Param('name', CallerNamePipe) name: string, @Body() _body: EmptyBodyDto, @Req() request: Request) {
    setAuditSubject(request, name);
    return this.callers.disable(name, actorOf(request));
  }
}
