import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { databaseConfig } from '../config/configuration';
import { buildDataSourceOptions } from './data-source';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [databaseConfig.KEY],
      useFactory: (settings: ConfigType<typeof databaseConfig>) => ({
        ...buildDataSourceOptions(settings),
        migrationsRun: settings.migrateOnStart,
        retryAttempts: 0,
      }),
    }),
  ],
})
export class DatabaseModule {}
