#!/usr/bin/env node
import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { DomainError } from '../common/domain-error';
import { ConfigurationError } from '../config/configuration.error';
import { loadEnvFile } from '../config/env-file';
import { validateEnvironment, type EnvironmentVariables } from '../config/env.validation';
import { dataDirLock, lockDataDir } from '../database/data-dir-lock';
import type { KeyRing } from '../crypto/key-ring';
import {
  KeyInUseError,
  KeyNotLoadedEverywhereError,
  KeysManagedByEnvironmentError,
  KeyStateConflictError,
  KmsUnavailableError,
  RegistryKeyNotFoundError,
  RegistryKeyRefusedError,
} from '../keys/keys.errors';
import { databaseErrorCodeOf } from '../common/database-errors';
import {
  IncidentKeyNotConfiguredError,
  IncidentNeedsNewPrimaryError,
  KeyIncidentNotFoundError,
} from '../key-lifecycle/key-incident.errors';
import {
  RotationAlreadyActiveError,
  RotationLeaseHeldError,
  RotationPrimaryKeyMissingError,
  RotationTargetKeyMismatchError,
} from '../rotation/rotation.errors';
import { GrantIncidentRunningError } from '../revocation/revocation.errors';
import { parseCliArgs, USAGE, UsageError } from './cli-args';
import { keysGenerate } from './keys-generate.command';

async function main(argv: string[]): Promise<number> {
  const command = parseCliArgs(argv);
  if (command.name === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command.name === 'keys:generate') return keysGenerate(command.json, process.stdout);
  loadEnvFile();
  if (command.name === 'migrate' || command.name === 'migrate:revert') {
    const env = validateEnvironment(process.env);
    lockEmbeddedDataDir(env);
    const { migrate } = await import('./migrate.command');
    return migrate(command.name === 'migrate:revert', env, process.stdout);
  }
  const rotates = command.name === 'rotate' || command.name === 'incident:key';
  if (rotates) keepHeapNearLiveSize();
  // Jobs run here in the foreground only: a background poller would compete for them.
  process.env.ROTATION_WORKER_ENABLED = 'false';
  process.env.REVOCATION_WORKER_ENABLED = 'false';
  const envRing = command.name === 'keys:import' ? takeEnvironmentKeys() : undefined;
  const env = validateEnvironment(process.env);
  if (command.name === 'rotate' && env.KEY_WRAPPING === undefined && !env.WORKFLOWS_ARTIFACT_ENC_KEY) {
    throw new ConfigurationError(
      'WORKFLOWS_ARTIFACT_ENC_KEY',
      'is required to rotate: accounts are re-sealed with it',
    );
  }
  lockEmbeddedDataDir(env);
  const { runDatabaseCommand } = await import('./database-commands');
  return runDatabaseCommand(
    command,
    env,
    rotates || command.name === 'incident:grants' ? interruptSignal() : new AbortController().signal,
    envRing,
  );
}

/**
 * Held until the command exits, taken before anything opens the embedded database, so a
 * directory a server holds is refused in one line instead of the framework's retry logs.
 */
function lockEmbeddedDataDir(env: EnvironmentVariables): void {
  const lock = env.DATABASE_URL ? undefined : dataDirLock(env.DATA_DIR);
  if (lock) lockDataDir(lock.dataDir, lock.file);
}

const ENV_KEY_VARIABLES = [
  'WORKFLOWS_ARTIFACT_ENC_KEY',
  'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS',
  'JOBS_CRYPTO_SECONDARY_KEY',
];

/**
 * keys:import reads the env-mode keys as env mode would (same rules, same key ids), then removes
 * them from this process's environment, so the rest runs in registry mode like any command.
 */
function takeEnvironmentKeys(): KeyRing {
  if (!process.env.KEY_WRAPPING) {
    throw new ConfigurationError(
      'KEY_WRAPPING',
      'is required by keys:import: it names the registry wrapping',
    );
  }
  const { KEY_WRAPPING: _wrapping, ROOT_KEY: _root, ROOT_KEY_FILE: _rootFile, ...envMode } = process.env;
  const { ring } = validateEnvironment(envMode).keys;
  for (const name of ENV_KEY_VARIABLES) {
    delete process.env[name];
    delete process.env[`${name}_FILE`];
  }
  return ring;
}

/**
 * A rotation keeps a few batches in flight, so each minor collection promotes a few megabytes of
 * rows that die soon after. V8 lets the old generation grow to about four times its live size
 * before a full collection, which on 100 000 accounts took the process from 30 MB of live heap
 * to 130 MB. A growing factor of 1.5 collects them sooner: the limit is read at every collection,
 * so setting it here, before the job starts, takes effect. It changes when V8 collects, not what
 * the process may use: a larger batch still gets the heap it needs.
 */
function keepHeapNearLiveSize(): void {
  setFlagsFromString('--heap-growing-percent=50');
}

/**
 * First Ctrl-C stops at the next batch boundary (incident:grants: the next account) and releases
 * the lease; a second one exits at once.
 */
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
  if (error instanceof GrantIncidentRunningError) {
    process.stderr.write(`${error.message}\n`);
    return 3;
  }
  if (error instanceof RotationLeaseHeldError || error instanceof RotationAlreadyActiveError) {
    process.stderr.write(
      `${error.message}; if that process has stopped, run again once its lease has expired\n`,
    );
    return 3;
  }
  if (
    error instanceof KeyInUseError ||
    error instanceof KeyNotLoadedEverywhereError ||
    error instanceof KeysManagedByEnvironmentError ||
    error instanceof KeyStateConflictError ||
    error instanceof RegistryKeyNotFoundError ||
    error instanceof RegistryKeyRefusedError ||
    error instanceof IncidentNeedsNewPrimaryError ||
    error instanceof IncidentKeyNotConfiguredError ||
    error instanceof KeyIncidentNotFoundError
  ) {
    process.stderr.write(`refused: ${error.code}: ${error.message}; nothing changed\n`);
    return 4;
  }
  if (error instanceof KmsUnavailableError) {
    process.stderr.write(`error: ${error.code}: ${error.message}\n`);
    return 5;
  }
  const detail =
    error instanceof DomainError ? `${error.code}: ${error.message}` : databaseErrorCodeOf(error);
  process.stderr.write(`error: ${detail}\n`);
  return 1;
}

let finished = false;
// An event loop that empties while the command still waits (a database that never answers)
// would otherwise end the process with exit code 0 and no word: that is never a success.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  process.stderr.write('error: the command stopped before it finished; its outcome is unknown\n');
  process.exitCode = 1;
});

main(process.argv.slice(2)).then(
  (code) => {
    finished = true;
    process.exitCode = code;
  },
  (error: unknown) => {
    finished = true;
    process.exitCode = exitCodeFor(error);
  },
);
