import { KeyRing } from '../src/crypto/key-ring';
import { KeyLifecycleService } from '../src/key-lifecycle/key-lifecycle.service';
import { truncateAll } from './create-app';
import { poll } from './support/fixtures';
import { createRotationApp, keyEnv, newKey, tokensFor, type RotationApp } from './support/rotation-fixtures';

/**
 * `KEY_WRAPPING=local` on whichever database the run uses, the embedded one included (where
 * there is no LISTEN/NOTIFY): a change written behind the instance's back, which announces
 * nothing, is loaded by the periodic re-read.
 */
describe('key registry in local mode, periodic re-read', () => {
  let app: RotationApp | undefined;

  afterEach(async () => {
    if (app) await truncateAll(app.dataSource);
    await app?.close();
    app = undefined;
  });

  it('starts, serves, and loads a promotion made without a notice within the re-read period', async () => {
    app = await createRotationApp({
      ...keyEnv(undefined),
      KEY_WRAPPING: 'local',
      ROOT_KEY: newKey().key,
      KEY_REGISTRY_REFRESH_SECONDS: '1',
    });
    await truncateAll(app.dataSource);
    const registry = app.app.get(KeyLifecycleService);
    const first = await registry.add('test');
    await registry.promote(first.keyId, 'test', 5);
    const [early, late] = [tokensFor('reread', 1), tokensFor('reread', 2)];
    const before = await app.accounts.createAccount(2, 'notion', early);
    const second = await registry.add('test');

    await app.dataSource.transaction(async (manager) => {
      await manager.query(
        `UPDATE key_registry SET state = 'decrypt-only', change_seq = nextval('key_registry_change_seq')
          WHERE key_id = $1`,
        [first.keyId],
      );
      await manager.query(
        `UPDATE key_registry SET state = 'primary', change_seq = nextval('key_registry_change_seq')
          WHERE key_id = $1`,
        [second.keyId],
      );
    });
    const ring = app.app.get(KeyRing);
    await poll(async () => (ring.primaryKeyId === second.keyId ? true : undefined), 10_000);

    const after = await app.accounts.createAccount(2, 'notion', late);
    const [row] = await app.dataSource.query(`SELECT token_key_id FROM external_accounts WHERE id = $1`, [
      after.id,
    ]);
    expect(row.token_key_id).toBe(second.keyId);
    expect(await app.accounts.getAccountTokens(2, before.id)).toMatchObject(early);
    expect(await app.accounts.getAccountTokens(2, after.id)).toMatchObject(late);
  });
});
