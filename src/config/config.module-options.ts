import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type ConfigType } from '@nestjs/config';
import { KeyRing } from '../crypto/key-ring';
import { appConfig } from './app.config';
import { authConfig } from './auth.config';
import { connectorsConfig } from './connectors.config';
import { cryptoConfig } from './crypto.config';
import { databaseConfig } from './database.config';
import { validateEnvironment } from './env.validation';
import { rotationConfig } from './rotation.config';

@Module({})
class ConfigurationModule {}

/**
 * The one configuration module of the server and the command line: the typed namespaces, and
 * the key ring decoded from them, for CryptoModule and whoever reads key ids.
 */
export function configRootModule(): DynamicModule {
  return {
    module: ConfigurationModule,
    global: true,
    imports: [
      ConfigModule.forRoot({
        isGlobal: true,
        cache: true,
        ignoreEnvFile: process.env.NODE_ENV === 'test',
        // Validated once and cached; the raw values go back unchanged, so a `*_FILE` secret is
        // not written back into process.env beside its variable.
        validate: (raw) => {
          validateEnvironment(raw);
          return raw;
        },
        load: [appConfig, databaseConfig, authConfig, connectorsConfig, rotationConfig, cryptoConfig],
      }),
    ],
    providers: [
      {
        provide: KeyRing,
        inject: [cryptoConfig.KEY],
        useFactory: (crypto: ConfigType<typeof cryptoConfig>) => crypto.ring,
      },
    ],
    exports: [KeyRing],
  };
}
