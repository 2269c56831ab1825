import { buildKeyInventory } from './key-inventory.view';

const PRIMARY = 'aaaaaaaaaaaaaaaa';
const OLD = 'bbbbbbbbbbbbbbbb';
const OLDER = 'cccccccccccccccc';

describe('buildKeyInventory', () => {
  it('lists the configured keys in order, then unknown key ids by count, with totals', () => {
    const inventory = buildKeyInventory(
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
      { keyId: PRIMARY, role: 'primary', accounts: 10, safeToRetire: null },
      { keyId: OLD, role: 'previous', accounts: 3, safeToRetire: false },
      { keyId: OLDER, role: 'previous', accounts: 0, safeToRetire: true },
      { keyId: 'eeeeeeeeeeeeeeee', role: 'unknown', accounts: 4, safeToRetire: null },
      { keyId: 'dddddddddddddddd', role: 'unknown', accounts: 1, safeToRetire: null },
    ]);
    expect(inventory).toMatchObject({
      legacyV1Accounts: 0,
      plaintextAccounts: 2,
      unknownKeyAccounts: 5,
      totalAccounts: 20,
      accountsOnPrimary: 10,
      accountsToRotate: 10,
    });
  });

  it('retires no previous key while a legacy v1 account remains: it may need any of them', () => {
    const inventory = buildKeyInventory([{ keyId: 'legacy-v1', accounts: 1 }], {
      primaryKeyId: PRIMARY,
      previousKeyIds: [OLD],
    });
    expect(inventory.keys[1]).toEqual({ keyId: OLD, role: 'previous', accounts: 0, safeToRetire: false });
  });

  it('reports every account as to rotate without a primary key', () => {
    const inventory = buildKeyInventory([{ keyId: 'plaintext', accounts: 3 }], {
      primaryKeyId: undefined,
      previousKeyIds: [],
    });
    expect(inventory).toMatchObject({
      primaryKeyId: null,
      keys: [],
      accountsOnPrimary: 0,
      accountsToRotate: 3,
    });
  });
});
