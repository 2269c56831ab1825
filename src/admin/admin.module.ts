import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AdminAuditMiddleware } from '../audit/admin-audit.middleware';
import { AdminChangeAuditInterceptor } from '../audit/admin-change-audit.interceptor';
import { AuditModule } from '../audit/audit.module';
import { CallersModule } from '../callers/callers.module';
import { KeyLifecycleModule } from '../key-lifecycle/key-lifecycle.module';
import { ProvidersModule } from '../providers/providers.module';
import { RevocationModule } from '../revocation/revocation.module';
import { RotationModule } from '../rotation/rotation.module';
import { AdminAuditController } from './admin-audit.controller';
import { AdminBudgets } from './admin-budgets';
import { AdminGuard } from './admin.guard';
import { ClientsController } from './clients.controller';
import { GrantIncidentsController } from './grant-incidents.controller';
import { KeyIncidentsController } from './key-incidents.controller';
import { KeysController } from './keys.controller';
import { MetricsServer } from './metrics-server';
import { MetricsController } from './metrics.controller';
import { ProvidersController } from './providers.controller';
import { RotationsController } from './rotations.controller';
import { ServiceMetrics } from './service-metrics';

/**
 * The operators' HTTP surface: admin token, rate budgets, audit of every request (changes
 * written before they answer), metrics.
 */
@Module({
  imports: [
    AuditModule,
    CallersModule,
    RotationModule,
    ProvidersModule,
    RevocationModule,
    KeyLifecycleModule,
  ],
  controllers: [
    KeysController,
    RotationsController,
    AdminAuditController,
    MetricsController,
    ProvidersController,
    ClientsController,
    GrantIncidentsController,
    KeyIncidentsController,
  ],
  providers: [
    AdminBudgets,
    AdminGuard,
    ServiceMetrics,
    MetricsServer,
    // Global, but acts only on the requests the audit middleware below marks.
    { provide: APP_INTERCEPTOR, useClass: AdminChangeAuditInterceptor },
  ],
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
        ClientsController,
        GrantIncidentsController,
        KeyIncidentsController,
      );
  }
}
