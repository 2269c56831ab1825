import { NestFactory } from '@nestjs/core';
import type { EnvironmentVariables } from '../config/env.validation';
import type { CliCommand } from './cli-args';
import { CliLogger } from './cli.logger';
import { CliModule } from './cli.module';
import { keysStatus } from './keys-status.command';
import { rotate } from './rotate.command';

type DatabaseCommand = Extract<CliCommand, { name: 'keys:status' | 'rotate' }>;

/**
 * The commands that need the database, on the server's providers in a Nest application context.
 * Loaded only for them, so `keys:generate` and usage errors answer without loading Nest or TypeORM.
 */
export async function runDatabaseCommand(
  command: DatabaseCommand,
  env: EnvironmentVariables,
  signal: AbortSignal,
) {
  const context = await NestFactory.createApplicationContext(CliModule.forRoot(), {
    logger: new CliLogger(env.LOG_LEVEL),
    abortOnError: false,
  });
  try {
    if (command.name === 'keys:status') return await keysStatus(context, command, process.stdout);
    return await rotate(context, command, process.stdout, signal);
  } finally {
    await context.close();
  }
}
