import { Module, type DynamicModule } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { keysConfig } from '../config/configuration';
import { KeyRing } from '../crypto/key-ring';
import { KEY_REGISTRY_OPTIONS, KeyRegistryLoader, type KeyRegistryOptions } from './key-registry.loader';
import { KeyRegistryRepository } from './key-registry.repository';
import { KeysHealthIndicator } from './keys.health';

/**
 * The key ring in both modes: decoded from the settings (env mode), or empty at first and filled
 * from the key registry at start and on every change (registry mode).
 */
@Module({})
export class KeysModule {
  static forRoot(options: KeyRegistryOptions): DynamicModule {
    return {
      module: KeysModule,
      global: true,
      providers: [
        { provide: KEY_REGISTRY_OPTIONS, useValue: options },
        {
          provide: KeyRing,
          inject: [keysConfig.KEY],
          useFactory: (keys: ConfigType<typeof keysConfig>) =>
            keys.wrapping ? KeyRing.unloaded() : keys.ring,
        },
        KeyRegistryRepository,
        KeyRegistryLoader,
        KeysHealthIndicator,
      ],
      exports: [KeyRing, KeyRegistryRepository, KeyRegistryLoader, KeysHealthIndicator],
    };
  }
}
