import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { AdminAuditMiddleware } from '../audit/admin-audit.middleware';
import { AuditModule } from '../audit/audit.module';
import { KeyLifecycleModule } from '../key-lifecycle/key-lifecycle.module';
import { ProvidersModule } from '../providers/providers.module';
import { RotationModule } from '../rotation/rotation.module';
import { AdminAuditController } from './admin-audit.controller';
import { AdminBudgets } from './admin-budgets';
import { AdminGuard } from './admin.guard';
import { KeyIncidentsController } from './key-incidents.controller';
import { KeysController } from './keys.controller';
import { MetricsServer } from './metrics-server';
import { MetricsController } from './metrics.controller';
import { ProvidersController } from './providers.controller';
import { RotationsController } from './rotations.controller';
import { ServiceMetrics } from './service-metrics';

/** The operators' HTTP surface: admin token, rate budgets, audit of every request, metrics. */
@Module({
  imports: [AuditModule, RotationModule, ProvidersModule, KeyLifecycleModule],
  controllers: [
    KeysController,
    RotationsController,
    AdminAuditController,
    MetricsController,
    ProvidersController,
    KeyIncidentsController,
  ],
  providers: [AdminBudgets, AdminGuard, ServiceMetrics, MetricsServer],
  exports: [AdminBudgets, AdminGuard],
})
export class AdminModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(AdminAuditMiddleware)
      .forRoutes(
        KeysController,
        RotationsController,
        AdminAuditController,
        ProvidersController,
        KeyIncidentsController,
      );
  }
}
