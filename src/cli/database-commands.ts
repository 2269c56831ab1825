import { NestFactory } from '@nestjs/core';
import type { KeyRing } from '../crypto/key-ring';
import type { EnvironmentVariables } from '../config/env.validation';
import type { CliCommand } from './cli-args';
import { CliLogger } from './cli.logger';
import { CliCommandsModule } from './cli-commands.module';
import { keysLifecycle } from './keys-lifecycle.command';
import { keysStatus } from './keys-status.command';
import { rotate } from './rotate.command';

type DatabaseCommand = Exclude<CliCommand, { name: 'help' | 'keys:generate' | 'migrate' | 'migrate:revert' }>;

/**
 * The commands that need the database, on the server's providers in a Nest application context.
 * Loaded only for them, so `keys:generate` and usage errors answer without loading Nest or TypeORM.
 */
export async function runDatabaseCommand(
  command: DatabaseCommand,
  env: EnvironmentVariables,
  signal: AbortSignal,
  envRing?: KeyRing,
) {
  const context = await NestFactory.createApplicationContext(CliCommandsModule.forRoot(), {
    logger: new CliLogger(env.LOG_LEVEL),
    abortOnError: false,
  });
  try {
    if (command.name === 'keys:status') return await keysStatus(context, command, process.stdout);
    if (command.name === 'rotate') return await rotate(context, command, process.stdout, signal);
    return await keysLifecycle(context, command, process.stdout, {
      envRing,
      promotionTimeoutSeconds: env.KEY_PROMOTION_TIMEOUT_SECONDS,
    });
  } finally {
    await context.close();
  }
}
