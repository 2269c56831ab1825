import { ConfigModule } from '@nestjs/config';
import { appConfig } from './app.config';
import { authConfig } from './auth.config';
import { connectorsConfig } from './connectors.config';
import { databaseConfig } from './database.config';
import { validateEnvironment } from './env.validation';
import { rotationConfig } from './rotation.config';

/** The one configuration module of the server and the command line. */
export function configRootModule() {
  return ConfigModule.forRoot({
    isGlobal: true,
    cache: true,
    ignoreEnvFile: process.env.NODE_ENV === 'test',
    validate: validateEnvironment,
    load: [appConfig, databaseConfig, authConfig, connectorsConfig, rotationConfig],
  });
}
