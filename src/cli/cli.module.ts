import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { appConfig } from '../config/app.config';
import { authConfig } from '../config/auth.config';
import { connectorsConfig } from '../config/connectors.config';
import { databaseConfig } from '../config/database.config';
import { validateEnvironment } from '../config/env.validation';
import { rotationConfig } from '../config/rotation.config';
import { ConnectorsModule } from '../connectors/connectors.module';
import { CryptoModule } from '../crypto/crypto.module';
import { DatabaseModule } from '../database/database.module';
import { RotationModule } from '../rotation/rotation.module';

/** The server's providers without HTTP or logging transport, for the command line. */
@Module({})
export class CliModule {
  static forRoot(): DynamicModule {
    return {
      module: CliModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          cache: true,
          ignoreEnvFile: process.env.NODE_ENV === 'test',
          validate: validateEnvironment,
          load: [appConfig, databaseConfig, authConfig, connectorsConfig, rotationConfig],
        }),
        DatabaseModule,
        CryptoModule,
        ConnectorsModule,
        RotationModule,
      ],
    };
  }
}
