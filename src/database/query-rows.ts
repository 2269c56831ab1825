import type { EntityManager } from 'typeorm';

/**
 * The rows a statement returns, `UPDATE ... RETURNING` included: TypeORM's plain `query` hands
 * back `[rows, count]` for UPDATE on pg but only rows on the embedded driver, so the structured
 * result is used instead. Runs in the manager's transaction when it has one.
 */
export async function queryRows<T>(
  manager: EntityManager,
  sql: string,
  parameters: unknown[] = [],
): Promise<T[]> {
  const runner = manager.queryRunner ?? manager.connection.createQueryRunner();
  try {
    const result = await runner.query(sql, parameters, true);
    return (result.records ?? []) as T[];
  } finally {
    if (runner !== manager.queryRunner) await runner.release();
  }
}
