import type { INestApplicationContext } from '@nestjs/common';
import type { KeyInventory } from '../key-lifecycle/key-inventory.view';
import { KeyLifecycleService } from '../key-lifecycle/key-lifecycle.service';
import { KeyUsageService } from '../key-lifecycle/key-usage.service';
import { formatRegistryStatus } from './keys-lifecycle.command';

type Output = Pick<NodeJS.WriteStream, 'write'>;

/** Prints the inventory; with `check`, exits 1 while it has a warning, so a deploy step can wait on it. */
export async function keysStatus(
  context: INestApplicationContext,
  options: { json: boolean; check: boolean },
  out: Output,
): Promise<number> {
  const registry = context.get(KeyLifecycleService);
  if (registry.registryMode) {
    const status = await registry.status();
    out.write(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatRegistryStatus(status));
    const refused = status.keys.some((key) => key.refused !== null);
    return options.check && refused ? 1 : 0;
  }
  const inventory = await context.get(KeyUsageService).inventory();
  out.write(options.json ? `${JSON.stringify(inventory, null, 2)}\n` : formatInventory(inventory));
  return options.check && inventory.warnings.length > 0 ? 1 : 0;
}

function row(cells: (string | number)[]): string {
  const widths = [18, 10, 10, 14];
  return cells
    .map((cell, index) => String(cell).padEnd(widths[index]))
    .join(' ')
    .trimEnd();
}

function formatInventory(inventory: KeyInventory): string {
  const lines = [row(['key id', 'role', 'accounts', 'safe to retire'])];
  for (const key of inventory.keys) {
    const retire = key.safeToRetire === null ? '-' : key.safeToRetire ? 'yes' : 'no';
    lines.push(row([key.keyId, key.role, key.accounts, retire]));
  }
  lines.push(row(['legacy-v1', 'no key id', inventory.legacyV1Accounts, '']));
  lines.push(row(['plaintext', 'no key', inventory.plaintextAccounts, '']));
  lines.push('');
  lines.push(`primary key: ${inventory.primaryKeyId ?? 'none (tokens are stored unencrypted)'}`);
  lines.push(
    `accounts: ${inventory.totalAccounts}, on the primary key: ${inventory.accountsOnPrimary}, ` +
      `to rotate: ${inventory.accountsToRotate}`,
  );
  if (inventory.providerClients.length > 0) {
    const byKey = inventory.providerClients.map(
      (entry) => `${entry.keyId} (${entry.role}): ${entry.clients}`,
    );
    lines.push(
      `provider client secrets: ${byKey.join(', ')}; to rotate: ${inventory.providerClientsToRotate}`,
    );
  }
  for (const warning of inventory.warnings) lines.push(`WARNING: ${warning}`);
  return `${lines.join('\n')}\n`;
}
