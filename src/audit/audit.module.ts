import { Module } from '@nestjs/common';
import { AdminAuditMiddleware } from './admin-audit.middleware';
import { AdminAuditEventsRepository } from './admin-audit-events.repository';
import { AdminAuditService } from './admin-audit.service';
import { AuditMetrics } from './audit-metrics';
import { TokenReadAuditService } from './token-read-audit.service';
import { TokenReadsRepository } from './token-reads.repository';

/**
 * The audit trails: admin actions (the module that serves admin routes applies the middleware
 * and the interceptor to them) and token reads (recorded by the service routes).
 */
@Module({
  providers: [
    AdminAuditEventsRepository,
    AdminAuditService,
    AdminAuditMiddleware,
    TokenReadsRepository,
    TokenReadAuditService,
    AuditMetrics,
  ],
  exports: [AdminAuditService, AdminAuditMiddleware, TokenReadAuditService],
})
export class AuditModule {}
