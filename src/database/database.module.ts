import { Module, type DynamicModule } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { databaseConfig } from '../config/configuration';
import { buildDataSourceOptions, type Entities } from './data-source';

@Module({})
export class DatabaseModule {
  /** The data source over the given entities: the entry points hand in `src/app.entities.ts`. */
  static forRoot(entities: Entities): DynamicModule {
    return {
      module: DatabaseModule,
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
    };
  }
}
