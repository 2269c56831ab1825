import { Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { AppMetrics } from '../metrics/app-metrics';
import { AdminAuditService } from './admin-audit.service';
import { TokenReadAuditService } from './token-read-audit.service';

/** The audit trails' gauges, read from this instance's queues at each scrape. */
@Injectable()
export class AuditMetrics implements OnModuleInit {
  constructor(
    private readonly tokenReads: TokenReadAuditService,
    private readonly admin: AdminAuditService,
    @Optional() private readonly metrics?: AppMetrics,
  ) {}

  onModuleInit(): void {
    if (!this.metrics) return;
    const { tokenReads, admin } = this;
    const registers = [this.metrics.registry];
    new Gauge({
      name: 'connectors_audit_queue_depth',
      help: 'Audit records waiting to be written by this instance, by trail (token_reads, admin)',
      labelNames: ['trail'],
      registers,
      collect() {
        this.set({ trail: 'token_reads' }, tokenReads.depth);
        this.set({ trail: 'admin' }, admin.waiting);
      },
    });
    new Gauge({
      name: 'connectors_audit_lag_seconds',
      help: 'How long the oldest token-read record not yet written has waited (AUDIT_MAX_LAG_SECONDS is the limit)',
      labelNames: ['trail'],
      registers,
      collect() {
        this.set({ trail: 'token_reads' }, tokenReads.lagSeconds);
      },
    });
  }
}
