import { QueryRunnerAlreadyReleasedError } from 'typeorm';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Driver not Connected|terminating connection/i;

function codeOf(error: object): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * True for failures to reach PostgreSQL (refused, reset, timed out, server shutting down),
 * as opposed to a query the server rejected.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  // TypeORM releases a query runner whose connection broke; its next statement fails this way.
  if (error instanceof QueryRunnerAlreadyReleasedError) return true;
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = codeOf(current);
    if (code && (NETWORK_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P03')) {
      return true;
    }
    if (current instanceof Error && UNAVAILABLE_MESSAGES.test(current.message)) return true;
    current = (current as { driverError?: unknown; cause?: unknown }).driverError ?? (current as { cause?: unknown }).cause;
  }
  return false;
}
