import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { ThrottlerModule } from '@nestjs/throttler';
import { AdminAuditMiddleware } from '../audit/admin-audit.middleware';
import { AuditModule } from '../audit/audit.module';
import { authConfig } from '../config/configuration';
import { ProvidersModule } from '../providers/providers.module';
import { RotationModule } from '../rotation/rotation.module';
import { AdminAuditController } from './admin-audit.controller';
import { AdminGuard } from './admin.guard';
import { ProvidersController } from './providers.controller';
import { RotationsController } from './rotations.controller';

/** The operators' HTTP surface: admin token, rate limit, audit of every request. */
@Module({
  imports: [
    AuditModule,
    RotationModule,
    ProvidersModule,
    ThrottlerModule.forRootAsync({
      inject: [authConfig.KEY],
      useFactory: (auth: ConfigType<typeof authConfig>) => [
        { ttl: 60_000, limit: auth.adminRateLimitPerMinute },
      ],
    }),
  ],
  controllers: [RotationsController, AdminAuditController, ProvidersController],
  providers: [AdminGuard],
})
export class AdminModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(AdminAuditMiddleware)
      .forRoutes(RotationsController, AdminAuditController, ProvidersController);
  }
}
