import { Module } from '@nestjs/common';
import { AdminAuditMiddleware } from './admin-audit.middleware';
import { AdminAuditService } from './admin-audit.service';

/** The admin audit trail; the module that serves admin routes applies the middleware to them. */
@Module({
  providers: [AdminAuditService, AdminAuditMiddleware],
  exports: [AdminAuditService, AdminAuditMiddleware],
})
export class AuditModule {}
