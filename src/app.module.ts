import { DynamicModule, Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { LoggerModule } from 'nestjs-pino';
import { AdminModule } from './admin/admin.module';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import { DomainErrorFilter } from './common/domain-error.filter';
import { loggingOptions } from './common/logging.options';
import { createValidationPipe } from './common/validation.pipe';
import { ENTITIES } from './app.entities';
import { appConfig, configRootModule } from './config/configuration';
import { ConnectModule } from './connect/connect.module';
import { ConnectorsModule } from './connectors/connectors.module';
import { RefreshAheadModule } from './connectors/refresh/refresh-ahead.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { KeyLifecycleModule } from './key-lifecycle/key-lifecycle.module';
import { KeysModule } from './keys/keys.module';
import { RevocationModule } from './revocation/revocation.module';
import { RotationModule } from './rotation/rotation.module';

/**
 * The whole service. Built as a dynamic module so the environment is read when the
 * application is created, not when this file is imported.
 */
@Module({})
export class AppModule {
  static forRoot(): DynamicModule {
    return {
      module: AppModule,
      imports: [
        configRootModule(),
        LoggerModule.forRootAsync({
          inject: [appConfig.KEY],
          useFactory: (app: ConfigType<typeof appConfig>) => loggingOptions(app.logLevel),
        }),
        MetricsModule,
        EventEmitterModule.forRoot(),
        DatabaseModule.forRoot(ENTITIES),
        KeysModule.forRoot({ fleet: true }),
        HealthModule,
        ConnectorsModule,
        RefreshAheadModule,
        RevocationModule,
        RotationModule,
        KeyLifecycleModule,
        AdminModule,
        ConnectModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_FILTER, useClass: DomainErrorFilter },
      ],
    };
  }
}
