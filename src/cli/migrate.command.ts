import { DataSource } from 'typeorm';
import { ENTITIES } from '../app.entities';
import { sqlStateOf } from '../common/database-errors';
import { databaseSettings } from '../config/configuration';
import type { EnvironmentVariables } from '../config/env.validation';
import { buildDataSourceOptions } from '../database/data-source';

type Output = Pick<NodeJS.WriteStream, 'write'>;

/**
 * `connectors migrate` runs the pending migrations, each in its own transaction, and prints each
 * one; `migrate:revert` reverts the last one that ran. The compiled migrations of the server,
 * on the same data source options: no TypeScript is compiled at run time.
 */
export async function migrate(revert: boolean, env: EnvironmentVariables, out: Output): Promise<number> {
  // A migration may rewrite a large table: no statement or lock timeout here.
  const options = buildDataSourceOptions(
    { ...databaseSettings(env), logQueries: false, statementTimeoutMs: 0, lockTimeoutMs: 0 },
    ENTITIES,
  );
  // This command prints what it did itself; a failure is reported by the CLI as a code, never as SQL.
  const dataSource = new DataSource({ ...options, logging: false, logger: 'simple-console' });
  await dataSource.initialize();
  try {
    if (revert) {
      const [last] = await dataSource
        .query(`SELECT name FROM ${options.migrationsTableName} ORDER BY id DESC LIMIT 1`)
        .catch((error: unknown) => {
          // No migrations table yet: nothing has run.
          if (sqlStateOf(error) === '42P01') return [];
          throw error;
        });
      if (!last) {
        out.write('no migration has run: nothing to revert\n');
        return 0;
      }
      await dataSource.undoLastMigration({ transaction: 'each' });
      out.write(`reverted: ${last.name}\n`);
      return 0;
    }
    const ran = await dataSource.runMigrations({ transaction: 'each' });
    if (ran.length === 0) out.write('no migrations are pending\n');
    for (const migration of ran) out.write(`migrated: ${migration.name}\n`);
    return 0;
  } finally {
    await dataSource.destroy();
  }
}
