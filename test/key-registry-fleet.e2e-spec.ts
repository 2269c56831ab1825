import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DecryptCommand } from '@aws-sdk/client-kms';
import { REGISTRY_BINDING_LABEL } from '../src/keys/key-wrapper';
import { freePort, runBuiltCli, startBuiltServer, type BuiltServer } from './support/built-server';
import { describeIfPostgres, poll } from './support/fixtures';
import { KmsServer, kmsEnv } from './support/kms-server';
import { SecretRegistry } from './support/safety-secrets';
import { newApiToken } from './support/auth';

const SERVICE_TOKEN = newApiToken('service');
const ADMIN_TOKEN = newApiToken('admin');
const ACCOUNTS = 30;

interface Server {
  base: string;
  child: BuiltServer;
  stderr: string;
}

/**
 * Two built server processes on one PostgreSQL database, the lifecycle run through the built
 * `connectors` command, and changes reaching the servers by LISTEN/NOTIFY alone (the periodic
 * re-read is set far beyond the test's length).
 */
describeIfPostgres('key registry fleet (server processes and the command line)', () => {
  const kms = new KmsServer();
  const servers: Server[] = [];
  const cliOutputs: string[] = [];
  let db: Client;

  beforeAll(async () => {
    await kms.start();
    db = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await db.connect();
  }, 60_000);

  afterAll(async () => {
    for (const server of servers) server.child.kill('SIGKILL');
    await db.query(
      `TRUNCATE external_accounts, key_registry, key_registry_instances, key_rotation_jobs RESTART IDENTITY CASCADE`,
    );
    await db.end();
    await kms.stop();
  });

  const serviceAuth = { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' };
  const adminAuth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  async function startServer(env: Record<string, string | undefined>): Promise<Server> {
    const port = await freePort();
    const child = startBuiltServer(port, env);
    const server: Server = { base: `http://127.0.0.1:${port}`, child, stderr: '' };
    child.stderr?.on('data', (chunk: Buffer) => (server.stderr += chunk.toString('utf8')));
    servers.push(server);
    // An empty registry has no primary key yet: serving, but not ready until one is promoted.
    await poll(
      () =>
        fetch(`${server.base}/health/ready`).then(
          async (answer) => {
            if (answer.ok) return true;
            const body = (await answer.json()) as { details?: { keys?: { code?: string } } };
            return body.details?.keys?.code === 'NO_PRIMARY_KEY' ? true : undefined;
          },
          () => undefined,
        ),
      60_000,
      200,
    ).catch((error: unknown) => {
      throw new Error(`the server did not start: ${child.output().slice(-1500)} (${String(error)})`);
    });
    return server;
  }

  async function cli(args: string[], env: Record<string, string | undefined>): Promise<string> {
    const result = await runBuiltCli(args, env);
    cliOutputs.push(result.stdout + result.stderr);
    if (result.status !== 0) {
      throw new Error(`connectors ${args.join(' ')} exited ${result.status}: ${result.stderr.slice(0, 500)}`);
    }
    return result.stdout;
  }

  const keyIdOfAdd = (stdout: string) => (JSON.parse(stdout) as { keyId: string }).keyId;

  async function loadedOn(server: Server, keyId: string): Promise<boolean> {
    const answer = await fetch(`${server.base}/admin/keys`, { headers: adminAuth });
    const status = (await answer.json()) as { keys: { keyId: string; loaded: boolean }[] };
    return status.keys.some((key) => key.keyId === keyId && key.loaded);
  }

  it('serves every account on both servers through keys:add, keys:promote, rotate and keys:retire, with no restart', async () => {
    await db.query(
      `TRUNCATE external_accounts, key_registry, key_registry_instances, key_rotation_jobs RESTART IDENTITY CASCADE`,
    );
    const arn = await kms.createKey();
    const env = {
      NODE_ENV: 'test',
      DATABASE_URL: process.env.E2E_DATABASE_URL,
      DB_MIGRATE_ON_START: 'false',
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      ROTATION_WORKER_ENABLED: 'false',
      REFRESH_AHEAD_SECONDS: '0',
      KEY_WRAPPING: `aws-kms:${arn}`,
      KEY_REGISTRY_REFRESH_SECONDS: '300',
      KEY_PROMOTION_TIMEOUT_SECONDS: '30',
      // Each request is logged: the servers' output is scanned for secrets at the end.
      LOG_LEVEL: 'info',
      ...kmsEnv(kms.endpoint),
    };
    const [one, two] = await Promise.all([startServer(env), startServer(env)]);
    const cliEnv = { ...env, ADMIN_API_TOKEN: undefined, CONNECTORS_API_TOKEN: undefined, LOG_LEVEL: 'warn' };

    const first = keyIdOfAdd(await cli(['keys:add', '--json'], cliEnv));
    await cli(['keys:promote', first], cliEnv);

    const userOf = new Map<number, number>();
    const written = new Map<number, Set<string>>();
    for (let index = 0; index < ACCOUNTS; index += 1) {
      const userId = 1 + (index % 5);
      const accessToken = `fleet-${index}-${randomBytes(6).toString('hex')}`;
      const answer = await fetch(`${(index % 2 ? two : one).base}/users/${userId}/accounts`, {
        method: 'POST',
        headers: serviceAuth,
        body: JSON.stringify({ provider: 'notion', tokens: { access_token: accessToken } }),
      });
      expect(answer.status).toBe(201);
      const { id } = (await answer.json()) as { id: number };
      userOf.set(id, userId);
      written.set(id, new Set([accessToken]));
    }

    const errors: string[] = [];
    const rounds = [0, 0];
    let reading = true;
    const read = async (server: Server, id: number) => {
      const userId = userOf.get(id) as number;
      const answer = await fetch(`${server.base}/users/${userId}/accounts/${id}/tokens`, {
        headers: serviceAuth,
      });
      if (answer.status !== 200)
        return `${server.base} account ${id}: ${answer.status} ${await answer.text()}`;
      const body = (await answer.json()) as { access_token: string };
      // A write racing the read may land on either side of it: any value written to it is right.
      return written.get(id)?.has(body.access_token)
        ? undefined
        : `${server.base} account ${id}: other tokens`;
    };
    const reader = async (server: Server, slot: number) => {
      while (reading) {
        for (const id of userOf.keys()) {
          const error = await read(server, id).catch(
            (failure: unknown) => `${server.base}: ${String(failure)}`,
          );
          if (error) errors.push(error);
        }
        rounds[slot] += 1;
      }
    };
    const readers = [reader(one, 0), reader(two, 1)];

    const second = keyIdOfAdd(await cli(['keys:add', '--json'], cliEnv));
    await cli(['keys:promote', second], cliEnv);
    // Right after promotion: written on one server, read back at once on the other, until a
    // write is sealed with the new key (server one may take a notice's time to seal with it).
    const [firstAccount] = userOf.keys();
    const userId = userOf.get(firstAccount) as number;
    let sealedWith = first;
    for (let attempt = 0; sealedWith !== second && attempt < 200; attempt += 1) {
      const fresh = `after-promotion-${attempt}-${randomBytes(6).toString('hex')}`;
      written.get(firstAccount)?.add(fresh);
      const put = await fetch(`${one.base}/users/${userId}/accounts/${firstAccount}/tokens`, {
        method: 'PUT',
        headers: serviceAuth,
        body: JSON.stringify({ access_token: fresh }),
      });
      expect(put.status).toBe(200);
      sealedWith = ((await put.json()) as { encryption: { keyId: string } }).encryption.keyId;
      const readBack = await fetch(`${two.base}/users/${userId}/accounts/${firstAccount}/tokens`, {
        headers: serviceAuth,
      });
      expect(readBack.status).toBe(200);
      expect(((await readBack.json()) as { access_token: string }).access_token).toBe(fresh);
    }
    expect(sealedWith).toBe(second);

    expect(await cli(['rotate'], cliEnv)).toMatch(/completed/);
    const retired = await cli(['keys:retire', first], cliEnv);
    expect(retired).toBe(`retired key ${first}: it is no longer loaded and opens nothing\n`);
    for (const server of [one, two])
      await poll(async () => ((await loadedOn(server, first)) ? undefined : true));
    const settled = [...rounds];
    await poll(async () => (rounds[0] >= settled[0] + 2 && rounds[1] >= settled[1] + 2 ? true : undefined));
    reading = false;
    await Promise.all(readers);

    expect(errors).toEqual([]);
    expect(servers.map((server) => server.child.exitCode)).toEqual([null, null]);
    const { rows } = await db.query(`SELECT DISTINCT token_key_id FROM external_accounts`);
    expect(rows).toEqual([{ token_key_id: second }]);

    // Neither the servers nor the command printed a token, an API token, a data key or a wrapped key.
    const secrets = new SecretRegistry();
    secrets.add('service API token', SERVICE_TOKEN);
    secrets.add('admin API token', ADMIN_TOKEN);
    for (const values of written.values()) for (const value of values) secrets.add('access token', value);
    const kmsClient = kms.client();
    try {
      const registry = await db.query(`SELECT key_id, wrapped_key FROM key_registry`);
      for (const { key_id: keyId, wrapped_key: wrapped } of registry.rows as {
        key_id: string;
        wrapped_key: Buffer;
      }[]) {
        secrets.addKey(`wrapped key ${keyId}`, wrapped.toString('base64'));
        const answer = await kmsClient.send(
          new DecryptCommand({
            CiphertextBlob: wrapped,
            EncryptionContext: { purpose: REGISTRY_BINDING_LABEL, key_id: keyId },
          }),
        );
        secrets.addKey(`data key ${keyId}`, Buffer.from(answer.Plaintext as Uint8Array).toString('base64'));
      }
    } finally {
      kmsClient.destroy();
    }
    expect(secrets.size).toBeGreaterThanOrEqual(2 + ACCOUNTS + 4);
    const printed = servers.map((server) => server.child.output());
    expect(printed.every((output) => output.includes('request completed'))).toBe(true);
    expect([
      ...printed.flatMap((output, index) => secrets.find(output, `server ${index + 1}`)),
      ...cliOutputs.flatMap((output) => secrets.find(output, 'connectors command')),
    ]).toEqual([]);
  }, 240_000);
});
