import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, type ConfigType } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { AdminModule } from './admin/admin.module';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import { DomainErrorFilter } from './common/domain-error.filter';
import { loggingOptions } from './common/logging.options';
import { createValidationPipe } from './common/validation.pipe';
import { appConfig } from './config/app.config';
import { authConfig } from './config/auth.config';
import { databaseConfig } from './config/database.config';
import { validateEnvironment } from './config/env.validation';
import { connectorsConfig } from './config/connectors.config';
import { rotationConfig } from './config/rotation.config';
import { ConnectorsModule } from './connectors/connectors.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
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
        ConfigModule.forRoot({
          isGlobal: true,
          cache: true,
          ignoreEnvFile: process.env.NODE_ENV === 'test',
          validate: validateEnvironment,
          load: [appConfig, databaseConfig, authConfig, connectorsConfig, rotationConfig],
        }),
        LoggerModule.forRootAsync({
          inject: [appConfig.KEY],
          useFactory: (app: ConfigType<typeof appConfig>) => loggingOptions(app.logLevel),
        }),
        DatabaseModule,
        HealthModule,
        ConnectorsModule,
        RotationModule,
        AdminModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_FILTER, useClass: DomainErrorFilter },
      ],
    };
  }
}
