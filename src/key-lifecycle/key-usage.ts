import { tokenKeyUse } from '../connectors/token-columns';

/**
 * What each module that seals values reports, counted from stored key ids (nothing decrypted):
 * accounts by `token_key_id` (a key id, `v2:<key id>`, `legacy-v1`, `plaintext`, `malformed`),
 * provider client secrets and connect sessions' PKCE verifiers by the key id of their envelope.
 */
export interface KeyUseCounts {
  accounts: { keyId: string; accounts: number }[];
  providerClients?: { keyId: string; clients: number }[];
  connectSessions?: { keyId: string; sessions: number }[];
}

/** Accounts of one key id: v3 and v2 envelopes together, and the v2 ones among them. */
export interface AccountsOfKey {
  accounts: number;
  v2Accounts: number;
}

/** The one count of key use: what the inventory shows and what retiring a key checks. */
export interface KeyUsage {
  accounts: ReadonlyMap<string, AccountsOfKey>;
  providerClients: ReadonlyMap<string, number>;
  connectSessions: ReadonlyMap<string, number>;
  /** No key id: such an envelope may need any key, so it counts as using every one. */
  legacyV1: number;
  plaintext: number;
  malformed: number;
  totalAccounts: number;
}

export function keyUsageOf(counts: KeyUseCounts): KeyUsage {
  const accounts = new Map<string, AccountsOfKey>();
  const usage = { legacyV1: 0, plaintext: 0, malformed: 0, totalAccounts: 0 };
  for (const { keyId, accounts: count } of counts.accounts) {
    usage.totalAccounts += count;
    const use = tokenKeyUse(keyId);
    if (use.kind === 'legacy-v1') usage.legacyV1 += count;
    else if (use.kind === 'plaintext') usage.plaintext += count;
    else if (use.kind === 'malformed') usage.malformed += count;
    else {
      const entry = accounts.get(use.kid) ?? { accounts: 0, v2Accounts: 0 };
      entry.accounts += count;
      if (use.format === 'v2') entry.v2Accounts += count;
      accounts.set(use.kid, entry);
    }
  }
  return {
    ...usage,
    accounts,
    providerClients: sumByKey(counts.providerClients ?? [], (entry) => entry.clients),
    connectSessions: sumByKey(counts.connectSessions ?? [], (entry) => entry.sessions),
  };
}

/** Values sealed under `keyId` that opening needs it for, legacy v1 accounts included. */
export function sealedUnder(usage: KeyUsage, keyId: string): number {
  return (
    (usage.accounts.get(keyId)?.accounts ?? 0) +
    (usage.providerClients.get(keyId) ?? 0) +
    (usage.connectSessions.get(keyId) ?? 0) +
    usage.legacyV1
  );
}

/** A key that is not primary can be retired once nothing needs it to be opened. */
export function safeToRetire(usage: KeyUsage, keyId: string): boolean {
  return sealedUnder(usage, keyId) === 0;
}

function sumByKey<T extends { keyId: string }>(
  entries: T[],
  count: (entry: T) => number,
): Map<string, number> {
  const sums = new Map<string, number>();
  for (const entry of entries) sums.set(entry.keyId, (sums.get(entry.keyId) ?? 0) + count(entry));
  return sums;
}
