import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { outcomeOf } from '../audit/admin-audit-event.entity';
import { AdminAuditService } from '../audit/admin-audit.service';
import type { CallerView } from '../callers/caller.view';
import { CallersService } from '../callers/callers.service';
import { databaseErrorCodeOf } from '../common/database-errors';
import { DomainError } from '../common/domain-error';
import type { EnvironmentVariables } from '../config/env.validation';
import type { ClientsCommand } from './cli-args';
import { CliLogger } from './cli.logger';
import { CliModule } from './cli.module';
import { cliActor, statusOfFailure } from './keys-lifecycle.command';

type Output = Pick<NodeJS.WriteStream, 'write'>;

/** The caller commands need the database and the audit trail, not the keys: KMS may be down. */
export async function runClientsCommand(command: ClientsCommand, env: EnvironmentVariables): Promise<number> {
  const context = await NestFactory.createApplicationContext(CliModule.callersOnly(), {
    logger: new CliLogger(env.LOG_LEVEL),
    abortOnError: false,
  });
  try {
    return await clientsCommand(context, command, { out: process.stdout, err: process.stderr });
  } finally {
    await context.close();
  }
}

/**
 * Runs one caller command. A change is written to the audit trail (done or refused) before the
 * command prints its outcome; a secret is printed once, by the command that made it. A refusal
 * prints `refused: <CODE>: ...; nothing changed` and exits 4.
 */
export async function clientsCommand(
  context: INestApplicationContext,
  command: ClientsCommand,
  io: { out: Output; err: Output },
): Promise<number> {
  const callers = context.get(CallersService);
  if (command.name === 'clients:list') {
    const list = await callers.list();
    io.out.write(command.json ? `${JSON.stringify(list, null, 2)}\n` : formatCallers(list));
    return 0;
  }
  const actor = cliActor();
  const audit = context.get(AdminAuditService);
  const action = `CLI ${command.name}${command.name === 'clients:rotate' && command.finish ? ' --finish' : ''} ${command.client}`;
  let text: string;
  let value: unknown;
  try {
    [value, text] = await run(callers, command, actor);
  } catch (error) {
    await record(audit, action, actor, statusOfFailure(error), io.err);
    if (!(error instanceof DomainError) || statusOfFailure(error) >= 500) throw error;
    io.err.write(`refused: ${error.code}: ${error.message}; nothing changed\n`);
    return 4;
  }
  await record(audit, action, actor, command.name === 'clients:add' ? 201 : 200, io.err);
  io.out.write(command.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  return 0;
}

async function run(
  callers: CallersService,
  command: Exclude<ClientsCommand, { name: 'clients:list' }>,
  actor: string,
): Promise<[unknown, string]> {
  switch (command.name) {
    case 'clients:add': {
      const added = await callers.add(
        { name: command.client, scopes: command.scopes, providers: command.providers },
        actor,
      );
      return [
        added,
        `added caller ${added.name} (${describe(added)})\n` +
          `secret (shown this once; store it now): ${added.secret}`,
      ];
    }
    case 'clients:rotate': {
      if (command.finish) {
        const finished = await callers.finishRotation(command.client, actor);
        const kept = finished.secrets.map((secret) => secret.prefix).join(', ') || 'none';
        return [finished, `caller ${finished.name}: rotation finished; only secret ${kept} works`];
      }
      const rotated = await callers.rotate(command.client, actor);
      const until = rotated.secrets.find((secret) => secret.expiresAt !== null)?.expiresAt;
      return [
        rotated,
        `caller ${rotated.name}: new secret (shown this once; store it now): ${rotated.secret}\n` +
          `the previous secret works until ${until ?? 'the rotation is finished'}; end it sooner with clients:rotate ${rotated.name} --finish`,
      ];
    }
    case 'clients:disable': {
      const disabled = await callers.disable(command.client, actor);
      return [
        disabled,
        `caller ${disabled.name} is disabled: its secrets are refused (by other instances within CLIENT_CACHE_SECONDS)`,
      ];
    }
  }
}

/** `CLI clients:rotate <name>`: caller names are configuration, safe to record. */
async function record(
  audit: AdminAuditService,
  action: string,
  actor: string,
  statusCode: number,
  err: Output,
): Promise<void> {
  try {
    await audit.write({
      action,
      outcome: outcomeOf(statusCode),
      statusCode,
      actor,
      clientAddress: null,
      requestId: null,
    });
  } catch (error) {
    err.write(`warning: the audit event of ${action} was not written (${databaseErrorCodeOf(error)})\n`);
  }
}

function describe(caller: CallerView): string {
  return `${caller.scopes.join(', ')}; ${caller.providers ? `providers ${caller.providers.join(', ')}` : 'every provider'}`;
}

export function formatCallers(callers: CallerView[]): string {
  if (callers.length === 0) return 'no caller is registered\n';
  return `${callers
    .map((caller) => {
      const secrets = caller.secrets
        .map((secret) => `${secret.prefix}${secret.expiresAt ? ` (until ${secret.expiresAt})` : ''}`)
        .join(', ');
      const state = caller.disabledAt ? `disabled ${caller.disabledAt}` : `secrets ${secrets || 'none'}`;
      return `${caller.name}: ${describe(caller)}; ${state}; last used ${caller.lastUsedAt ?? 'never'}`;
    })
    .join('\n')}\n`;
}
