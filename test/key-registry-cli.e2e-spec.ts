import { rmSync } from 'node:fs';
import request from 'supertest';
import { runBuiltCli } from './support/built-server';
import { createRotationApp, newKey } from './support/rotation-fixtures';
import { freshDataDir } from './test-database';
import { bearer, newApiToken } from './support/auth';

const ADMIN_TOKEN = newApiToken('admin');

/**
 * The built `connectors` command in registry mode on an embedded database of its own, with no
 * server running: what the README's first steps give an operator.
 */
describe('key lifecycle through the built command on the embedded database', () => {
  const dataDir = freshDataDir('connectors-keys-cli-');
  const root = newKey().key;
  const env = { NODE_ENV: 'test', DATA_DIR: dataDir, KEY_WRAPPING: 'local', ROOT_KEY: root };
  const cli = (...args: string[]) => runBuiltCli(args, env);

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('retires a never-used key, says what it did, and exits non-zero when it retired nothing', async () => {
    const added = await cli('keys:add', '--json');
    expect([added.status, added.stderr]).toEqual([0, '']);
    const keyId = JSON.parse(added.stdout).keyId as string;

    const retired = await cli('keys:retire', keyId);
    expect([retired.status, retired.stderr]).toEqual([0, '']);
    expect(retired.stdout).toBe(`retired key ${keyId}: it is no longer loaded and opens nothing\n`);

    const again = await cli('keys:retire', keyId);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`^key ${keyId} was already retired \\(.+\\): nothing changed\\n$`),
    );

    const unknown = await cli('keys:retire', 'abcdefabcdefabcd');
    expect(unknown.status).toBe(4);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe(
      'refused: KEY_NOT_FOUND: key abcdefabcdefabcd is not in the registry; nothing changed\n',
    );

    const status = await cli('keys:status', '--json');
    expect(status.status).toBe(0);
    expect(JSON.parse(status.stdout).keys).toEqual([expect.objectContaining({ keyId, state: 'retired' })]);

    const app = await createRotationApp({
      DATABASE_URL: undefined,
      DATA_DIR: dataDir,
      KEY_WRAPPING: 'local',
      ROOT_KEY: root,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
    });
    try {
      const trail = await request(app.app.getHttpServer())
        .get('/admin/audit')
        .set(bearer(ADMIN_TOKEN))
        .expect(200);
      const actions = (trail.body.events as { action: string; outcome: string; statusCode: number }[])
        .filter((event) => event.action.startsWith('CLI keys:retire'))
        .map((event) => [event.action, event.outcome, event.statusCode])
        .reverse();
      expect(actions).toEqual([
        [`CLI keys:retire ${keyId}`, 'allowed', 200],
        [`CLI keys:retire ${keyId}`, 'allowed', 200],
        ['CLI keys:retire abcdefabcdefabcd', 'rejected', 404],
      ]);
    } finally {
      await app.close();
    }
  }, 240_000);
});
