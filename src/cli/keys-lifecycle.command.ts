import type { INestApplicationContext } from '@nestjs/common';
import { hostname, userInfo } from 'node:os';
import { outcomeOf } from '../audit/admin-audit-event.entity';
import { AdminAuditService } from '../audit/admin-audit.service';
import { databaseErrorCodeOf } from '../common/database-errors';
import { DomainError } from '../common/domain-error';
import { STATUS_BY_KIND } from '../common/domain-error.filter';
import type { KeyRing } from '../crypto/key-ring';
import { KeyLifecycleService } from '../key-lifecycle/key-lifecycle.service';
import type { KeyRegistryStatus } from '../key-lifecycle/key-registry.view';
import type { CliCommand, KeyLifecycleCommand } from './cli-args';

type Output = Pick<NodeJS.WriteStream, 'write'>;
type Options = { envRing?: KeyRing; promotionTimeoutSeconds: number };

/**
 * Runs one registry action and prints key ids, states and counts: never a key or a wrapped blob.
 * The action is recorded in the audit trail, refused or done, as the admin routes' actions are.
 */
export async function keysLifecycle(
  context: INestApplicationContext,
  command: KeyLifecycleCommand,
  out: Output,
  options: Options,
): Promise<number> {
  const actor = cliActor();
  const audit = context.get(AdminAuditService);
  let keyId = keyIdOfCommand(command);
  try {
    keyId = (await runAction(context.get(KeyLifecycleService), command, actor, out, options)) ?? keyId;
  } catch (error) {
    await recordAction(audit, command, keyId, actor, statusOfFailure(error));
    throw error;
  }
  await recordAction(audit, command, keyId, actor, 200);
  return 0;
}

export function keyIdOfCommand(command: CliCommand): string | undefined {
  return 'keyId' in command ? command.keyId : undefined;
}

/** Returns the key id the action was about, when one key and not given on the command line. */
async function runAction(
  registry: KeyLifecycleService,
  command: KeyLifecycleCommand,
  actor: string,
  out: Output,
  options: Options,
): Promise<string | undefined> {
  const print = (value: unknown, text: string) =>
    out.write(command.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  switch (command.name) {
    case 'keys:add': {
      const key = await registry.add(actor);
      print(key, `added key ${key.keyId} (decrypt-only); promote it with keys:promote ${key.keyId}`);
      return key.keyId;
    }
    case 'keys:promote': {
      const key = await registry.promote(command.keyId, actor, options.promotionTimeoutSeconds);
      print(key, `key ${key.keyId} is primary; start a rotation to move the accounts to it`);
      return undefined;
    }
    case 'keys:retire': {
      const { key, changed } = await registry.retire(command.keyId, actor);
      print(
        key,
        changed
          ? `retired key ${key.keyId}: it is no longer loaded and opens nothing`
          : `key ${key.keyId} was already retired (${key.retiredAt} by ${key.retiredBy}): nothing changed`,
      );
      return undefined;
    }
    case 'keys:rewrap': {
      const result = await registry.rewrap(actor);
      print(result, `re-wrapped ${result.rewrapped} keys (database work ${result.databaseMs} ms)`);
      return undefined;
    }
    case 'keys:import': {
      const keys = await registry.import(options.envRing as KeyRing, actor);
      print(keys, keys.map((key) => `imported key ${key.keyId} (${key.state})`).join('\n'));
      return undefined;
    }
  }
}

/** The HTTP status the same refusal gets from the admin routes, so both read alike in the trail. */
export function statusOfFailure(error: unknown): number {
  return error instanceof DomainError ? STATUS_BY_KIND[error.kind] : 500;
}

/**
 * `CLI keys:promote <key id>`: key ids are one-way and validated, safe to record. A trail that
 * cannot be written is said on stderr; the action itself has already happened or been refused.
 */
export async function recordAction(
  audit: AdminAuditService,
  command: Pick<CliCommand, 'name'>,
  keyId: string | undefined,
  actor: string,
  statusCode: number,
): Promise<void> {
  try {
    await audit.write({
      action: `CLI ${command.name}${keyId ? ` ${keyId}` : ''}`,
      outcome: outcomeOf(statusCode),
      statusCode,
      actor,
      clientAddress: null,
      requestId: null,
    });
  } catch (error) {
    process.stderr.write(
      `warning: the audit event of ${command.name} was not written (${databaseErrorCodeOf(error)})\n`,
    );
  }
}

export function formatRegistryStatus(status: KeyRegistryStatus): string {
  const row = (cells: (string | number)[]) =>
    cells
      .map((cell, index) => String(cell).padEnd([18, 13, 10, 14, 0][index]))
      .join(' ')
      .trimEnd();
  const lines = [row(['key id', 'state', 'accounts', 'safe to retire', 'wrapped by'])];
  for (const key of status.keys) {
    const retire = key.safeToRetire === null ? '-' : key.safeToRetire ? 'yes' : 'no';
    const state = key.refused ? `${key.state} (refused: ${key.refused})` : key.state;
    lines.push(row([key.keyId, state, key.accounts, retire, key.wrappingKey]));
  }
  lines.push(row(['legacy-v1', 'no key id', status.legacyV1Accounts, '']));
  lines.push(row(['plaintext', 'no key', status.plaintextAccounts, '']));
  lines.push('');
  lines.push(`registry mode, wrapping: ${status.wrapping}, version ${status.version}`);
  lines.push(`primary key: ${status.primaryKeyId ?? 'none (writes are refused until a key is promoted)'}`);
  lines.push(`accounts: ${status.totalAccounts}, live instances: ${status.instances.length}`);
  return `${lines.join('\n')}\n`;
}

export function cliActor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    // Containers often run under a uid with no passwd entry.
    user = process.env.USER ?? 'unknown';
  }
  return `cli:${user}@${hostname()}`.slice(0, 200);
}
