import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AdminAuditService } from '../audit/admin-audit.service';
import { databaseErrorCodeOf } from '../common/database-errors';
import { DataDirInUseError } from '../database/data-dir-lock';
import type { KeyRing } from '../crypto/key-ring';
import type { EnvironmentVariables } from '../config/env.validation';
import type { CliCommand, ClientsCommand, KeyLifecycleCommand } from './cli-args';
import { runClientsCommand } from './clients.command';
import { incidentKey } from './incident-key.command';
import { CliLogger } from './cli.logger';
import { CliModule } from './cli.module';
import {
  cliActor,
  keyIdOfCommand,
  keysLifecycle,
  recordAction,
  statusOfFailure,
} from './keys-lifecycle.command';
import { incidentGrants } from './incident-grants.command';
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
  if (isClients(command)) return runClientsCommand(command, env);
  const options = { logger: new CliLogger(env.LOG_LEVEL), abortOnError: false };
  let context: INestApplicationContext;
  try {
    context = await NestFactory.createApplicationContext(CliModule.forRoot(), options);
  } catch (error) {
    // A directory another process holds cannot take the audit row either: one line says why.
    if (isAudited(command) && !(error instanceof DataDirInUseError))
      await auditFailedStart(command, error, options);
    throw error;
  }
  try {
    if (command.name === 'keys:status') return await keysStatus(context, command, process.stdout);
    if (command.name === 'rotate') return await rotate(context, command, process.stdout, signal);
    if (command.name === 'incident:grants')
      return await incidentGrants(context, command, process.stdout, signal);
    if (command.name === 'incident:key') return await incidentKey(context, command, process.stdout, signal);
    return await keysLifecycle(context, command, process.stdout, {
      envRing,
      promotionTimeoutSeconds: env.KEY_PROMOTION_TIMEOUT_SECONDS,
    });
  } finally {
    await context.close();
  }
}

function isClients(command: DatabaseCommand): command is ClientsCommand {
  return command.name.startsWith('clients:');
}

type AuditedCommand = KeyLifecycleCommand | Extract<CliCommand, { name: 'incident:key' }>;

/** The commands that change keys: each is recorded in the audit trail, done or refused. */
function isAudited(command: DatabaseCommand): command is AuditedCommand {
  return command.name !== 'keys:status' && command.name !== 'rotate' && command.name !== 'incident:grants';
}

/**
 * A lifecycle command that could not start (its keys not loaded: KMS down, a registry read
 * failed) is still a refused action: it is written to the trail from a context of its own.
 */
async function auditFailedStart(
  command: AuditedCommand,
  error: unknown,
  options: { logger: LoggerService; abortOnError: boolean },
): Promise<void> {
  let trail: INestApplicationContext;
  try {
    trail = await NestFactory.createApplicationContext(CliModule.auditTrailOnly(), options);
  } catch (failure) {
    process.stderr.write(
      `warning: the audit event of ${command.name} was not written (${databaseErrorCodeOf(failure)})\n`,
    );
    return;
  }
  try {
    const audit = trail.get(AdminAuditService);
    await recordAction(audit, command, keyIdOfCommand(command), cliActor(), statusOfFailure(error));
  } finally {
    await trail.close();
  }
}
