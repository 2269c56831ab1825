import { Controller, DefaultValuePipe, Get, ParseIntPipe, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ThrottlerGuard } from '@nestjs/throttler';
import { AdminAuditService } from '../audit/admin-audit.service';
import { AdminGuard } from './admin.guard';

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(ThrottlerGuard, AdminGuard)
@Controller('admin/audit')
export class AdminAuditController {
  constructor(private readonly audit: AdminAuditService) {}

  @Get()
  @ApiOperation({ summary: 'Recent admin requests, allowed and refused, newest first' })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000, default 100' })
  recent(@Query('limit', new DefaultValuePipe(100), ParseIntPipe) limit: number) {
    return this.audit.recent(Math.min(Math.max(limit, 1), 1000));
  }
}
