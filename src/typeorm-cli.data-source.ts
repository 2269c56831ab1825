import { DataSource } from 'typeorm';
import { ENTITIES } from './app.entities';
import { databaseSettings } from './config/configuration';
import { loadEnvFile } from './config/env-file';
import { validateEnvironment } from './config/env.validation';
import { buildDataSourceOptions } from './database/data-source';

loadEnvFile();

/** Entry point of `npm run typeorm` (migration:run, migration:revert, migration:generate). */
export default new DataSource(
  buildDataSourceOptions(databaseSettings(validateEnvironment(process.env)), ENTITIES),
);
