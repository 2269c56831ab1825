import { buildKeyInventory, type ConfiguredKeys } from './key-inventory.view';
import { keyUsageOf, type KeyUseCounts } from './key-usage';

const PRIMARY = 'aaaaaaaaaaaaaaaa';
const OLD = 'bbbbbbbbbbbbbbbb';
const OLDER = 'cccccccccccccccc';

function inventoryOf(
  accounts: KeyUseCounts['accounts'],
  ring: ConfiguredKeys,
  sealed: Omit<KeyUseCounts, 'accounts'> = {},
) {
  return buildKeyInventory(keyUsageOf({ accounts, ...sealed }), ring);
}

describe('buildKeyInventory', () => {
  it('lists the configured keys in order, then unknown key ids by count, with totals', () => {
    const inventory = inventoryOf(
      [
        { keyId: PRIMARY, accounts: 10 },
        { keyId: 'dddddddddddddddd', accounts: 1 },
        { keyId: 'eeeeeeeeeeeeeeee', accounts: 4 },
        { keyId: 'plaintext', accounts: 2 },
        { keyId: OLD, accounts: 3 },
      ],
      { primaryKeyId: PRIMARY, previousKeyIds: [OLD, OLDER] },
    );
    expect(inventory.keys).toEqual([
      { keyId: PRIMARY, role: 'primary', accounts: 10, v2Accounts: 0, safeToRetire: null },
      { keyId: OLD, role: 'previous', accounts: 3, v2Accounts: 0, safeToRetire: false },
      { keyId: OLDER, role: 'previous', accounts: 0, v2Accounts: 0, safeToRetire: true },
      { keyId: 'eeeeeeeeeeeeeeee', role: 'unknown', accounts: 4, v2Accounts: 0, safeToRetire: null },
      { keyId: 'dddddddddddddddd', role: 'unknown', accounts: 1, v2Accounts: 0, safeToRetire: null },
    ]);
    expect(inventory).toMatchObject({
      legacyV1Accounts: 0,
      plaintextAccounts: 2,
      malformedAccounts: 0,
      unknownKeyAccounts: 5,
      totalAccounts: 20,
      accountsOnPrimary: 10,
      accountsToRotate: 10,
    });
  });

  it('retires no previous key while a legacy v1 account remains: it may need any of them', () => {
    const inventory = inventoryOf([{ keyId: 'legacy-v1', accounts: 1 }], {
      primaryKeyId: PRIMARY,
      previousKeyIds: [OLD],
    });
    expect(inventory.keys[1]).toEqual({
      keyId: OLD,
      role: 'previous',
      accounts: 0,
      v2Accounts: 0,
      safeToRetire: false,
    });
  });

  it('counts v2 rows under their key id, as still to rotate even under the primary key', () => {
    const inventory = inventoryOf(
      [
        { keyId: PRIMARY, accounts: 10 },
        { keyId: `v2:${PRIMARY}`, accounts: 4 },
        { keyId: `v2:${OLD}`, accounts: 2 },
        { keyId: 'v2:dddddddddddddddd', accounts: 1 },
      ],
      { primaryKeyId: PRIMARY, previousKeyIds: [OLD, OLDER] },
    );
    expect(inventory.keys).toEqual([
      { keyId: PRIMARY, role: 'primary', accounts: 14, v2Accounts: 4, safeToRetire: null },
      { keyId: OLD, role: 'previous', accounts: 2, v2Accounts: 2, safeToRetire: false },
      { keyId: OLDER, role: 'previous', accounts: 0, v2Accounts: 0, safeToRetire: true },
      { keyId: 'dddddddddddddddd', role: 'unknown', accounts: 1, v2Accounts: 1, safeToRetire: null },
    ]);
    expect(inventory).toMatchObject({
      unknownKeyAccounts: 1,
      totalAccounts: 17,
      accountsOnPrimary: 10,
      accountsToRotate: 7,
    });
  });

  it('adds v3 and v2 rows of the same key id into one entry', () => {
    const inventory = inventoryOf(
      [
        { keyId: `v2:${OLD}`, accounts: 2 },
        { keyId: OLD, accounts: 5 },
      ],
      { primaryKeyId: PRIMARY, previousKeyIds: [OLD] },
    );
    expect(inventory.keys).toEqual([
      { keyId: PRIMARY, role: 'primary', accounts: 0, v2Accounts: 0, safeToRetire: null },
      { keyId: OLD, role: 'previous', accounts: 7, v2Accounts: 2, safeToRetire: false },
    ]);
    expect(inventory).toMatchObject({ totalAccounts: 7, accountsOnPrimary: 0, accountsToRotate: 7 });
  });

  it('keeps a previous key used by v2 rows only: they cannot be read without it', () => {
    const inventory = inventoryOf([{ keyId: `v2:${OLD}`, accounts: 1 }], {
      primaryKeyId: PRIMARY,
      previousKeyIds: [OLD],
    });
    expect(inventory.keys[1]).toEqual({
      keyId: OLD,
      role: 'previous',
      accounts: 1,
      v2Accounts: 1,
      safeToRetire: false,
    });
  });

  it('keeps a previous key that seals the PKCE verifier of a running connect session', () => {
    const ring = { primaryKeyId: PRIMARY, previousKeyIds: [OLD] };
    const inventory = inventoryOf([], ring, { connectSessions: [{ keyId: OLD, sessions: 2 }] });
    expect(inventory.keys[1]).toMatchObject({ keyId: OLD, safeToRetire: false });
    expect(inventory.connectSessions).toEqual([{ keyId: OLD, sessions: 2 }]);
    expect(inventoryOf([], ring).keys[1]).toMatchObject({ keyId: OLD, safeToRetire: true });
  });

  it('counts malformed rows apart from every key, as to rotate', () => {
    const inventory = inventoryOf(
      [
        { keyId: 'malformed', accounts: 3 },
        { keyId: PRIMARY, accounts: 2 },
      ],
      { primaryKeyId: PRIMARY, previousKeyIds: [OLD] },
    );
    expect(inventory.keys).toEqual([
      { keyId: PRIMARY, role: 'primary', accounts: 2, v2Accounts: 0, safeToRetire: null },
      { keyId: OLD, role: 'previous', accounts: 0, v2Accounts: 0, safeToRetire: true },
    ]);
    expect(inventory).toMatchObject({
      legacyV1Accounts: 0,
      plaintextAccounts: 0,
      malformedAccounts: 3,
      unknownKeyAccounts: 0,
      totalAccounts: 5,
      accountsOnPrimary: 2,
      accountsToRotate: 3,
    });
  });

  it('reports every account as to rotate without a primary key', () => {
    const inventory = inventoryOf([{ keyId: 'plaintext', accounts: 3 }], {
      primaryKeyId: undefined,
      previousKeyIds: [],
    });
    expect(inventory).toMatchObject({
      primaryKeyId: null,
      keys: [],
      plaintextAccounts: 3,
      accountsOnPrimary: 0,
      accountsToRotate: 3,
    });
  });
});
