import { isDatabaseUnavailable, sqlStateOf } from '../common/database-errors';
import { DataDirInUseError } from './data-dir-lock';

const SQL_STATE_REASONS: Record<string, string> = {
  '28P01': 'password authentication failed',
  '28000': 'the server refused this user or address',
  '3D000': 'the database does not exist',
  '53300': 'the server has too many connections',
  '57P03': 'the server is starting up or shutting down',
};

/** `host:port` of a PostgreSQL URL: never its user or password. */
function endpointOf(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname}:${url.port || '5432'}`;
  } catch {
    return 'the configured host';
  }
}

function networkCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    current =
      (current as { driverError?: unknown; cause?: unknown }).driverError ??
      (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * One line for a start-up that failed: for the database, where (host and port of DATABASE_URL)
 * and why (a network code or SQLSTATE); otherwise the error's class. Never a message, which for
 * driver errors can quote the user, the query or a value.
 */
export function describeStartupFailure(error: unknown, databaseUrl: string | undefined): string {
  if (error instanceof DataDirInUseError) return error.message;
  const sqlState = sqlStateOf(error);
  if (databaseUrl && (sqlState || isDatabaseUnavailable(error))) {
    const reason = sqlState
      ? `SQLSTATE ${sqlState}${SQL_STATE_REASONS[sqlState] ? `, ${SQL_STATE_REASONS[sqlState]}` : ''}`
      : (networkCodeOf(error) ?? 'connection failed');
    return `cannot use the database at ${endpointOf(databaseUrl)} (DATABASE_URL): ${reason}`;
  }
  return error instanceof Error ? error.constructor.name : typeof error;
}
