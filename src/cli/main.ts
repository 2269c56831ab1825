#!/usr/bin/env node
import 'reflect-metadata';
import { DomainError } from '../common/domain-error';
import { ConfigurationError } from '../config/configuration.error';
import { validateEnvironment } from '../config/env.validation';
import { errorCodeOf } from '../common/database-errors';
import {
  RotationAlreadyActiveError,
  RotationLeaseHeldError,
  RotationPrimaryKeyMissingError,
  RotationTargetKeyMismatchError,
} from '../rotation/rotation.errors';
import { parseCliArgs, USAGE, UsageError } from './cli-args';
import { keysGenerate } from './keys-generate.command';

async function main(argv: string[]): Promise<number> {
  const command = parseCliArgs(argv);
  if (command.name === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command.name === 'keys:generate') return keysGenerate(command.json, process.stdout);
  if (command.name === 'migrate' || command.name === 'migrate:revert') {
    const { migrate } = await import('./migrate.command');
    return migrate(command.name === 'migrate:revert', validateEnvironment(process.env), process.stdout);
  }
  // Jobs run here in the foreground only: a background poller would compete for them.
  process.env.ROTATION_WORKER_ENABLED = 'false';
  const env = validateEnvironment(process.env);
  if (command.name === 'rotate' && !env.WORKFLOWS_ARTIFACT_ENC_KEY) {
    throw new ConfigurationError(
      'WORKFLOWS_ARTIFACT_ENC_KEY',
      'is required to rotate: accounts are re-sealed with it',
    );
  }
  const { runDatabaseCommand } = await import('./database-commands');
  return runDatabaseCommand(
    command,
    env,
    command.name === 'rotate' ? interruptSignal() : new AbortController().signal,
  );
}

/** First Ctrl-C stops at the next batch boundary and releases the lease; a second one exits at once. */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping after the current batch; the job stays resumable\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return controller.signal;
}

/** One line on stderr per failure, never a message that could quote data (only domain errors' own). */
function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`error: ${error.message}\nRun with --help for usage.\n`);
    return 2;
  }
  if (error instanceof ConfigurationError) {
    process.stderr.write(`Configuration error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof RotationPrimaryKeyMissingError || error instanceof RotationTargetKeyMismatchError) {
    process.stderr.write(`Configuration error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof RotationLeaseHeldError || error instanceof RotationAlreadyActiveError) {
    process.stderr.write(
      `${error.message}; if that process has stopped, run again once its lease has expired\n`,
    );
    return 3;
  }
  const detail = error instanceof DomainError ? `${error.code}: ${error.message}` : errorCodeOf(error);
  process.stderr.write(`error: ${detail}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = exitCodeFor(error);
  },
);
