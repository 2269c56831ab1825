import type { INestApplicationContext } from '@nestjs/common';
import { hostname, userInfo } from 'node:os';
import type { KeyRing } from '../crypto/key-ring';
import type { KeyRegistryStatus } from '../keys/key-registry.view';
import { KeyRegistryService } from '../keys/key-registry.service';
import type { KeyLifecycleCommand } from './cli-args';

type Output = Pick<NodeJS.WriteStream, 'write'>;

/** Runs one registry action and prints key ids, states and counts: never a key or a wrapped blob. */
export async function keysLifecycle(
  context: INestApplicationContext,
  command: KeyLifecycleCommand,
  out: Output,
  options: { envRing?: KeyRing; promotionTimeoutSeconds: number },
): Promise<number> {
  const registry = context.get(KeyRegistryService);
  const actor = cliActor();
  const print = (value: unknown, text: string) =>
    out.write(command.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  switch (command.name) {
    case 'keys:add': {
      const key = await registry.add(actor);
      print(key, `added key ${key.keyId} (decrypt-only); promote it with keys:promote ${key.keyId}`);
      break;
    }
    case 'keys:promote': {
      const key = await registry.promote(command.keyId, actor, options.promotionTimeoutSeconds);
      print(key, `key ${key.keyId} is primary; start a rotation to move the accounts to it`);
      break;
    }
    case 'keys:retire': {
      const key = await registry.retire(command.keyId, actor);
      print(key, `key ${key.keyId} is retired and is no longer loaded`);
      break;
    }
    case 'keys:rewrap': {
      const result = await registry.rewrap(actor);
      print(result, `re-wrapped ${result.rewrapped} keys (database work ${result.databaseMs} ms)`);
      break;
    }
    case 'keys:import': {
      const keys = await registry.import(options.envRing as KeyRing, actor);
      print(keys, keys.map((key) => `imported key ${key.keyId} (${key.state})`).join('\n'));
      break;
    }
  }
  return 0;
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
