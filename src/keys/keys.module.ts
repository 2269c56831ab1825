import { Module, type DynamicModule } from '@nestjs/common';
import { ConnectorsModule } from '../connectors/connectors.module';
import { ConnectSessionsModule } from '../connect/connect-sessions.module';
import { ProvidersModule } from '../providers/providers.module';
import { KEY_REGISTRY_OPTIONS, KeyRegistryLoader, type KeyRegistryOptions } from './key-registry.loader';
import { KeyRegistryRepository } from './key-registry.repository';
import { KeyRegistryService } from './key-registry.service';

/** The key registry: loads it into the key ring in registry mode, and its lifecycle. */
@Module({})
export class KeysModule {
  static forRoot(options: KeyRegistryOptions): DynamicModule {
    return {
      module: KeysModule,
      global: true,
      imports: [ConnectorsModule, ProvidersModule, ConnectSessionsModule],
      providers: [
        { provide: KEY_REGISTRY_OPTIONS, useValue: options },
        KeyRegistryRepository,
        KeyRegistryLoader,
        KeyRegistryService,
      ],
      exports: [KeyRegistryLoader, KeyRegistryService],
    };
  }
}
