import { randomBytes } from 'node:crypto';
import type { TokenSet } from '../src/connectors/token-set';
import { KeyRing } from '../src/crypto/key-ring';
import { KeyRegistryService } from '../src/keys/key-registry.service';
import { truncateAll } from './create-app';
import { describeIfPostgres, poll } from './support/fixtures';
import { KmsServer, kmsEnv } from './support/kms-server';
import { createRotationApp, keyEnv, type RotationApp } from './support/rotation-fixtures';

/** Two instances on one PostgreSQL database, changes pushed by LISTEN/NOTIFY. */
describeIfPostgres('key registry fleet', () => {
  const kms = new KmsServer();
  let apps: RotationApp[] = [];

  beforeAll(() => kms.start(), 60_000);
  afterAll(() => kms.stop());
  afterEach(async () => {
    if (apps[0]) await truncateAll(apps[0].dataSource);
    for (const app of apps) await app.close();
    apps = [];
  });

  it('serves every account on both instances through add, promote, a rotation and retire, with no restart', async () => {
    const arn = await kms.createKey();
    const env = {
      ...keyEnv(undefined),
      ...kmsEnv(kms.endpoint),
      KEY_WRAPPING: `aws-kms:${arn}`,
      KEY_REGISTRY_REFRESH_SECONDS: '30',
      KEY_PROMOTION_TIMEOUT_SECONDS: '30',
    };
    const one = await createRotationApp(env);
    apps.push(one);
    // Other suites leave their rows behind.
    await truncateAll(one.dataSource);
    const two = await createRotationApp(env);
    apps.push(two);
    const registry = one.app.get(KeyRegistryService);
    const first = await registry.add('test');
    await registry.promote(first.keyId, 'test', 30);
    await poll(async () => (two.app.get(KeyRing).primaryKeyId === first.keyId ? true : undefined));

    const expected = new Map<number, TokenSet>();
    for (let index = 0; index < 40; index += 1) {
      const tokens = { access_token: `fleet-${index}-${randomBytes(4).toString('hex')}` };
      const account = await (index % 2 ? two : one).accounts.createAccount(1 + (index % 5), 'notion', tokens);
      expected.set(account.id, tokens);
    }
    const userOf = (id: number) => 1 + ([...expected.keys()].indexOf(id) % 5);

    const errors: string[] = [];
    let reading = true;
    let rounds = 0;
    const reader = async (app: RotationApp) => {
      while (reading) {
        for (const [id, tokens] of expected) {
          try {
            const read = await app.accounts.getAccountTokens(userOf(id), id);
            if (read.access_token !== tokens.access_token) errors.push(`wrong tokens for ${id}`);
          } catch (error) {
            errors.push(error instanceof Error ? error.constructor.name : 'error');
          }
        }
        rounds += 1;
      }
    };
    const loops = [reader(one), reader(two)];

    // The new key is added on instance two and promoted from instance one; no sleep in between.
    const second = await two.app.get(KeyRegistryService).add('test');
    await registry.promote(second.keyId, 'test', 30);
    const [firstId] = expected.keys();
    const fresh = { access_token: `after-promotion-${randomBytes(4).toString('hex')}` };
    await one.accounts.updateAccountTokens(userOf(firstId), firstId, fresh);
    expected.set(firstId, fresh);
    expect((await two.accounts.getAccountTokens(userOf(firstId), firstId)).access_token).toBe(
      fresh.access_token,
    );

    const job = await one.rotation.startRotation({ requestedBy: 'test' });
    const done = await one.worker.runJob(job.id);
    expect(done.status).toBe('completed');
    await poll(async () => (two.app.get(KeyRing).primaryKeyId === second.keyId ? true : undefined));
    await two.app.get(KeyRegistryService).retire(first.keyId, 'test');
    await poll(async () => (one.app.get(KeyRing).keyFor(first.keyId) === undefined ? true : undefined));
    const settled = rounds;
    await poll(async () => (rounds >= settled + 2 ? true : undefined));
    reading = false;
    await Promise.all(loops);
    expect(errors).toEqual([]);
    const keyIds = await one.dataSource.query(`SELECT DISTINCT token_key_id FROM external_accounts`);
    expect(keyIds).toEqual([{ token_key_id: second.keyId }]);
  }, 120_000);
});
