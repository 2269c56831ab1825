import { Module } from '@nestjs/common';
import { AdminAuditMiddleware } from './admin-audit.middleware';
import { AdminAuditEventsRepository } from './admin-audit-events.repository';
import { AdminAuditService } from './admin-audit.service';

/** The admin audit trail; the module that serves admin routes applies the middleware to them. */
@Module({
  providers: [AdminAuditEventsRepository, AdminAuditService, AdminAuditMiddleware],
  exports: [AdminAuditService, AdminAuditMiddleware],
})
export class AuditModule {}
