import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppMetrics } from '../metrics/app-metrics';
import { AdminGuard } from './admin.guard';

/**
 * `GET /metrics` on the API port, in the Prometheus text format, with the admin token. Scrapes
 * are not written to the audit trail: one every few seconds would drown it.
 */
@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: AppMetrics) {}

  @Get()
  @ApiOperation({ summary: 'Prometheus metrics (text format)' })
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
