import { Module, type DynamicModule } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { databaseConfig } from '../config/configuration';
import { DatabaseNotices } from './database-notices';
import { buildDataSourceOptions, type Entities } from './data-source';

@Module({})
export class DatabaseModule {
  /**
   * The data source over the given entities (the entry points hand in `src/app.entities.ts`),
   * and the process's one connection for LISTEN, opened when a module first subscribes.
   */
  static forRoot(entities: Entities): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [databaseConfig.KEY],
          useFactory: (settings: ConfigType<typeof databaseConfig>) => ({
            ...buildDataSourceOptions(settings, entities),
            migrationsRun: settings.migrateOnStart,
            retryAttempts: 0,
          }),
        }),
      ],
      providers: [DatabaseNotices],
      exports: [DatabaseNotices],
    };
  }
}
