import { keyUsageOf, safeToRetire, sealedUnder } from './key-usage';

const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
const C = 'cccccccccccccccc';

describe('keyUsageOf', () => {
  it('counts accounts by the key their envelope needs, v3 and v2 together, and the rest apart', () => {
    const usage = keyUsageOf({
      accounts: [
        { keyId: A, accounts: 5 },
        { keyId: `v2:${A}`, accounts: 2 },
        { keyId: `v2:${B}`, accounts: 1 },
        { keyId: 'plaintext', accounts: 4 },
        { keyId: 'malformed', accounts: 3 },
      ],
    });
    expect([...usage.accounts]).toEqual([
      [A, { accounts: 7, v2Accounts: 2 }],
      [B, { accounts: 1, v2Accounts: 1 }],
    ]);
    expect(usage).toMatchObject({ legacyV1: 0, plaintext: 4, malformed: 3, totalAccounts: 15 });
    expect([...usage.providerClients]).toEqual([]);
    expect([...usage.connectSessions]).toEqual([]);
  });

  it('adds the client secrets and connect sessions each key seals to what it must keep opening', () => {
    const usage = keyUsageOf({
      accounts: [{ keyId: A, accounts: 2 }],
      providerClients: [
        { keyId: B, clients: 1 },
        { keyId: 'plaintext', clients: 1 },
      ],
      connectSessions: [{ keyId: C, sessions: 3 }],
    });
    expect([sealedUnder(usage, A), sealedUnder(usage, B), sealedUnder(usage, C)]).toEqual([2, 1, 3]);
    expect([safeToRetire(usage, A), safeToRetire(usage, B), safeToRetire(usage, C)]).toEqual([
      false,
      false,
      false,
    ]);
    expect(safeToRetire(usage, 'dddddddddddddddd')).toBe(true);
  });

  it('keeps every key while a legacy v1 account remains: it names no key and may need any', () => {
    const usage = keyUsageOf({ accounts: [{ keyId: 'legacy-v1', accounts: 2 }] });
    expect(usage).toMatchObject({ legacyV1: 2, totalAccounts: 2 });
    expect(sealedUnder(usage, A)).toBe(2);
    expect(safeToRetire(usage, A)).toBe(false);
  });

  it('calls a key safe to retire when only plaintext and malformed values remain: they need no key', () => {
    const usage = keyUsageOf({
      accounts: [
        { keyId: 'plaintext', accounts: 1 },
        { keyId: 'malformed', accounts: 1 },
      ],
      providerClients: [{ keyId: 'plaintext', clients: 2 }],
    });
    expect(safeToRetire(usage, A)).toBe(true);
  });
});
