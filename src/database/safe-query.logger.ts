import { Logger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

const SQL_PREVIEW_LIMIT = 500;

/** SQL text is shown, up to a bound; parameters and driver detail never are: they can hold tokens. */
function preview(query: string): string {
  const text = query.replace(/\s+/g, ' ').trim();
  return text.length > SQL_PREVIEW_LIMIT ? `${text.slice(0, SQL_PREVIEW_LIMIT)}…` : text;
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error) return String(error.code);
  return 'unknown';
}

export class SafeQueryLogger implements TypeOrmLogger {
  private readonly logger = new Logger('Database');

  constructor(private readonly logQueries: boolean) {}

  logQuery(query: string, parameters?: unknown[]): void {
    if (!this.logQueries) return;
    this.logger.debug({ sql: preview(query), parameterCount: parameters?.length ?? 0 }, 'query');
  }

  logQueryError(error: unknown, query: string, parameters?: unknown[]): void {
    this.logger.warn(
      { sql: preview(query), parameterCount: parameters?.length ?? 0, sqlState: errorCode(error) },
      'query failed',
    );
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn({ sql: preview(query), durationMs: time }, 'slow query');
  }

  /** TypeORM reports migration progress here (names and counts only), so operators see it. */
  logSchemaBuild(message: string): void {
    this.logger.log(message);
  }

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    const text = typeof message === 'string' ? message : 'database message';
    if (level === 'warn') this.logger.warn(text);
    else this.logger.debug(text);
  }
}
