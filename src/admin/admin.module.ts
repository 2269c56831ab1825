import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { AdminAuditMiddleware } from '../audit/admin-audit.middleware';
import { AuditModule } from '../audit/audit.module';
import { RotationModule } from '../rotation/rotation.module';
import { AdminAuditController } from './admin-audit.controller';
import { AdminGuard } from './admin.guard';
import { KeysController } from './keys.controller';
import { RotationsController } from './rotations.controller';

/** The operators' HTTP surface: admin token, rate budgets, audit of every request. */
@Module({
  imports: [AuditModule, RotationModule],
  controllers: [KeysController, RotationsController, AdminAuditController],
  providers: [AdminGuard],
})
export class AdminModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(AdminAuditMiddleware).forRoutes(KeysController, RotationsController, AdminAuditController);
  }
}
