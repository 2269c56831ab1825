import { MiddlewareConsumer, Module, NestModule, UseInterceptors } from '@nestjs/common';
import { AdminAuditMiddleware } from '../audit/admin-audit.middleware';
import { AdminChangeAuditInterceptor } from '../audit/admin-change-audit.interceptor';
import { AuditModule } from '../audit/audit.module';
import { CallersModule } from '../callers/callers.module';
import { ConnectorsModule } from '../connectors/connectors.module';
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
 * The admin routes under audit: every request is recorded by the middleware, and every change
 * is written before it answers by the interceptor. The interceptor is bound to these
 * controllers, not to the whole application: an interceptor in Nest's chain costs every
 * request it is on, and the token routes answer the most requests.
 */
const AUDITED_CONTROLLERS = [
  KeysController,
  RotationsController,
  AdminAuditController,
  ProvidersController,
  ClientsController,
  GrantIncidentsController,
  KeyIncidentsController,
];
for (const controller of AUDITED_CONTROLLERS) UseInterceptors(AdminChangeAuditInterceptor)(controller);

/**
 * The operators' HTTP surface: admin token, rate budgets, audit of every request (changes
 * written before they answer), metrics.
 */
@Module({
  imports: [
    AuditModule,
    CallersModule,
    ConnectorsModule,
    RotationModule,
    ProvidersModule,
    RevocationModule,
    KeyLifecycleModule,
  ],
  controllers: [...AUDITED_CONTROLLERS, MetricsController],
  providers: [AdminBudgets, AdminGuard, ServiceMetrics, MetricsServer],
  exports: [AdminBudgets, AdminGuard],
})
export class AdminModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(AdminAuditMiddleware).forRoutes(...AUDITED_CONTROLLERS);
  }
}
