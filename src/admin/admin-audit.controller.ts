import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuditPage } from '../audit/admin-audit-event.view';
import { AdminAuditService } from '../audit/admin-audit.service';
import { TokenReadAuditService } from '../audit/token-read-audit.service';
import { TokenReadPage } from '../audit/token-read.view';
import { AdminGuard } from './admin.guard';
import { ListAuditDto } from './list-audit.dto';
import { ListTokenReadsDto } from './list-token-reads.dto';

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/audit')
export class AdminAuditController {
  constructor(
    private readonly audit: AdminAuditService,
    private readonly tokenReads: TokenReadAuditService,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'The audit trail, newest first: filters by outcome, action and time; cursor pagination',
  })
  list(@Query() query: ListAuditDto): Promise<AuditPage> {
    return this.audit.list({
      outcome: query.outcome,
      action: query.action,
      since: query.since === undefined ? undefined : new Date(query.since),
      cursor: query.cursor,
      limit: query.limit ?? 100,
    });
  }

  @Get('token-reads')
  @ApiOperation({
    summary:
      'Every token read, newest first: who read which account, when, and what came of it; filters and cursor pagination',
  })
  @ApiOkResponse({ type: TokenReadPage })
  tokenReadList(@Query() query: ListTokenReadsDto): Promise<TokenReadPage> {
    return this.tokenReads.list({
      accountId: query.accountId,
      userId: query.userId,
      caller: query.caller,
      provider: query.provider,
      outcome: query.outcome,
      since: query.since === undefined ? undefined : new Date(query.since),
      until: query.until === undefined ? undefined : new Date(query.until),
      cursor: query.cursor,
      limit: query.limit ?? 100,
    });
  }
}
