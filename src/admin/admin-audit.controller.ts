import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuditPage } from '../audit/admin-audit-event.view';
import { AdminAuditService } from '../audit/admin-audit.service';
import { AdminGuard } from './admin.guard';
import { ListAuditDto } from './list-audit.dto';

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/audit')
export class AdminAuditController {
  constructor(private readonly audit: AdminAuditService) {}

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
}
