import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, UseGuards } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { setAuditSubject } from '../audit/admin-audit.middleware';
import { bearerTokenOf, fingerprintOf } from '../common/bearer-token';
import { keysConfig } from '../config/configuration';
import { KeyLifecycleService } from '../key-lifecycle/key-lifecycle.service';
import { RegistryKeyView } from '../key-lifecycle/key-registry.view';
import { KeyUsageService } from '../key-lifecycle/key-usage.service';
import { AdminGuard } from './admin.guard';
import { keyIdParam } from './key-id-param';
import { EmptyBodyDto } from './empty-body.dto';

function actorOf(request: Request): string {
  return `admin:${fingerprintOf(bearerTokenOf(request) as string)}`;
}

/** The key registry's lifecycle; in env mode the changes answer 409 KEYS_MANAGED_BY_ENVIRONMENT. */
@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/keys')
export class KeysController {
  constructor(
    private readonly registry: KeyLifecycleService,
    private readonly keyUsage: KeyUsageService,
    @Inject(keysConfig.KEY) private readonly config: ConfigType<typeof keysConfig>,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Env mode: accounts per key id. Registry mode: each key, its state, wrapping and accounts',
  })
  keys() {
    return this.registry.registryMode ? this.registry.status() : this.keyUsage.inventory();
  }

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'A new decrypt-only key; returns its key id, never the key' })
  @ApiCreatedResponse({ type: RegistryKeyView })
  async add(@Body() _body: EmptyBodyDto, @Req() request: Request) {
    const key = await this.registry.add(actorOf(request));
    setAuditSubject(request, key.keyId);
    return key;
  }

  @Post('rewrap')
  @HttpCode(200)
  @ApiOperation({ summary: 'Re-wrap every key not retired under KEY_WRAPPING; writes no account row' })
  rewrap(@Body() _body: EmptyBodyDto, @Req() request: Request) {
    return this.registry.rewrap(actorOf(request));
  }

  @Post(':kid/promote')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Make the key primary once every live instance has loaded it (409 with laggards)',
  })
  @ApiOkResponse({ type: RegistryKeyView })
  promote(@Param('kid') kid: string, @Body() _body: EmptyBodyDto, @Req() request: Request) {
    const keyId = keyIdParam(kid, request);
    return this.registry.promote(keyId, actorOf(request), this.config.promotionTimeoutSeconds);
  }

  @Post(':kid/retire')
  @HttpCode(200)
  @ApiOperation({ summary: 'Retire a decrypt-only key; 409 KEY_IN_USE with the count while accounts use it' })
  @ApiOkResponse({ type: RegistryKeyView })
  async retire(@Param('kid') kid: string, @Body() _body: EmptyBodyDto, @Req() request: Request) {
    return (await this.registry.retire(keyIdParam(kid, request), actorOf(request))).key;
  }
}
