import type { LoggerService, LogLevel } from '@nestjs/common';
import { scrubSecrets } from '../common/secret-scrubber';

/**
 * Log lines of the commands go to stderr, so stdout holds only the command's output (JSON
 * included). Stacks and error messages are dropped: a driver error can quote query data.
 */
export class CliLogger implements LoggerService {
  private readonly levels: ReadonlySet<LogLevel>;

  constructor(logLevel: string | undefined) {
    const verbose = logLevel === 'debug' || logLevel === 'trace';
    this.levels = new Set<LogLevel>(
      verbose ? ['fatal', 'error', 'warn', 'log', 'debug'] : ['fatal', 'error', 'warn'],
    );
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('log', message, rest);
  }

  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (!this.levels.has(level)) return;
    // Nest passes the logger's context last; strings before it are messages that follow an object.
    const strings = rest.filter((part): part is string => typeof part === 'string');
    const context = strings.pop();
    const text = [...strings.map(describe), describe(message)].join(' ');
    process.stderr.write(`${level}${context ? ` [${context}]` : ''}: ${text}\n`);
  }
}

function describe(message: unknown): string {
  if (message instanceof Error) return message.name;
  if (typeof message === 'string') return scrubSecrets({ message }).message as string;
  if (typeof message === 'object' && message !== null) {
    return JSON.stringify(scrubSecrets(message as Record<string, unknown>));
  }
  return String(message);
}
