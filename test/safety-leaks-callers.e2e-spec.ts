import request from 'supertest';
import type { ClientsCommand } from '../src/cli/cli-args';
import { clientsCommand } from '../src/cli/clients.command';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { OutputCapture } from './support/output-capture';
import { newKey } from './support/rotation-fixtures';
import { randomTokens } from './support/safety-fixtures';
import { ResponseLog } from './support/safety-http';
import { SecretRegistry, storedOutsideSealedColumns } from './support/safety-secrets';
import { bearer, newApiToken } from './support/auth';

const key = newKey();
const SERVICE_TOKEN = newApiToken('service');
const ADMIN_TOKEN = newApiToken('admin');

/**
 * Callers at LOG_LEVEL=trace: added, used, refused, rotated, finished, disabled, listed, through
 * the admin API and the command line, with their reads in the audit trail. Every caller secret
 * and its digest may appear only in the one answer (or command output) that made it: no log line,
 * other answer, audit row, metric or stored row outside the digest column holds either.
 */
describe('no caller secret or digest in any output, at LOG_LEVEL=trace', () => {
  const capture = new OutputCapture();
  const secrets = new SecretRegistry();
  const responses = new ResponseLog();
  const commandOutputs: { text: string; allowed: string[] }[] = [];
  const auth = bearer(SERVICE_TOKEN);
  const admin = bearer(ADMIN_TOKEN);
  const as = bearer;
  let testApp: TestApp;
  let accountId = 0;
  let otherId = 0;
  let accountTokens: string[] = [];
  const http = () => request(testApp.app.getHttpServer());

  async function added(name: string, scopes: string[], providers?: string[]): Promise<string> {
    const answer = await http().post('/admin/clients').set(admin).send({ name, scopes, providers });
    const secret = answer.body.secret as string;
    secrets.addCallerSecret(`caller ${name}`, secret);
    expect(responses.record(`add ${name}`, answer, [secret]).status).toBe(201);
    return secret;
  }

  async function rotated(name: string): Promise<string> {
    const answer = await http().post(`/admin/clients/${name}/rotate`).set(admin).send({});
    const secret = answer.body.secret as string;
    secrets.addCallerSecret(`caller ${name} (rotated)`, secret);
    expect(responses.record(`rotate ${name}`, answer, [secret]).status).toBe(200);
    return secret;
  }

  async function read(step: string, secret: string, id = accountId) {
    return responses.record(
      step,
      await http().get(`/users/41/accounts/${id}/tokens`).set(as(secret)),
      accountTokens,
    );
  }

  async function cli(command: ClientsCommand, grab: RegExp) {
    let out = '';
    let err = '';
    const status = await clientsCommand(testApp.app, command, {
      out: { write: (text: string) => ((out += text), true) },
      err: { write: (text: string) => ((err += text), true) },
    });
    const secret = grab.exec(out)?.[1];
    if (secret) secrets.addCallerSecret(`CLI ${command.name}`, secret);
    commandOutputs.push({ text: `${out}${err}`, allowed: secret ? [secret] : [] });
    return { status, secret };
  }

  beforeAll(async () => {
    secrets.addKey('key', key.key);
    secrets.add('service API token', SERVICE_TOKEN);
    secrets.add('admin API token', ADMIN_TOKEN);
    capture.start();
    testApp = await createTestApp({
      LOG_LEVEL: 'trace',
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
      ROTATION_WORKER_ENABLED: 'false',
    });
    await truncateAll(testApp.dataSource);
    const tokens = randomTokens();
    secrets.addTokens('account', tokens);
    // A read returns its own account's token set: every string field but the type and scope.
    accountTokens = Object.entries(tokens)
      .filter(([field, value]) => field !== 'token_type' && field !== 'scope' && typeof value === 'string')
      .map(([, value]) => value as string);
    accountId = (await http().post('/users/41/accounts').set(auth).send({ provider: 'notion', tokens })).body
      .id;
    const other = randomTokens();
    secrets.addTokens('other account', other);
    otherId = (await http().post('/users/41/accounts').set(auth).send({ provider: 'slack', tokens: other }))
      .body.id;
  });

  afterAll(async () => {
    capture.stop();
    await testApp?.close();
  });

  it('uses, refuses, rotates and disables callers through the admin API', async () => {
    const first = await added('reader', ['tokens:read'], ['notion']);
    expect((await read('read with the first secret', first)).status).toBe(200);
    expect((await read('another provider', first, otherId)).status).toBe(404);
    const metadata = await http().get(`/users/41/accounts/${accountId}`).set(as(first));
    expect(responses.record('scope missing', metadata).status).toBe(403);
    const second = await rotated('reader');
    expect((await read('read with the old secret during the rotation', first)).status).toBe(200);
    expect((await read('read with the new secret', second)).status).toBe(200);
    const finished = await http().post('/admin/clients/reader/rotate/finish').set(admin).send({});
    expect(responses.record('finish', finished).status).toBe(200);
    expect((await read('read with the retired secret', first)).status).toBe(401);
    // The real prefix, the rest altered at both ends (so no preview of it is the real one's).
    const flip = (char: string) => (char === 'A' ? 'B' : 'A');
    const mangled = `${second.slice(0, 13)}${flip(second[13])}${second.slice(14, -1)}${flip(second.slice(-1))}`;
    secrets.addCallerSecret('a wrong secret in the caller format', mangled);
    expect((await read('read with a wrong secret', mangled)).status).toBe(401);
    const disabled = await http().post('/admin/clients/reader/disable').set(admin).send({});
    expect(responses.record('disable', disabled).status).toBe(200);
    expect((await read('read with a disabled caller', second)).status).toBe(401);
  });

  it('adds, rotates and lists callers on the command line', async () => {
    const printed = /secret \(shown this once; store it now\): (\S+)/;
    const { secret: cliSecret } = await cli(
      { name: 'clients:add', json: false, client: 'worker', scopes: ['tokens:read'] },
      printed,
    );
    expect((await read('read with the command line secret', cliSecret as string)).status).toBe(200);
    const { secret: rotatedSecret } = await cli(
      { name: 'clients:rotate', json: false, client: 'worker', finish: false },
      printed,
    );
    expect(rotatedSecret).toMatch(/^ccs_/);
    await cli({ name: 'clients:rotate', json: true, client: 'worker', finish: true }, printed);
    expect(
      (await cli({ name: 'clients:add', json: false, client: 'worker', scopes: ['connect'] }, printed))
        .status,
    ).toBe(4);
    await cli({ name: 'clients:list', json: true }, printed);
    await cli({ name: 'clients:list', json: false }, printed);
  });

  it('printed, answered, recorded and stored no caller secret or digest', async () => {
    for (const [step, path] of [
      ['list callers', '/admin/clients'],
      ['admin trail', '/admin/audit?limit=1000'],
      ['token-read trail', '/admin/audit/token-reads?limit=1000'],
      ['metrics', '/metrics'],
    ]) {
      expect(responses.record(step, await http().get(path).set(admin)).status).toBe(200);
    }
    const persisted = await storedOutsideSealedColumns(testApp.dataSource);
    const output = capture.stop();
    expect(output).toContain('request completed');
    expect(persisted).toContain('CALLER_PROVIDER_NOT_ALLOWED');
    expect(persisted).toContain('CLI clients:rotate worker');
    expect(secrets.size).toBeGreaterThan(20);
    const leaks = [
      ...secrets.find(output, 'server stdout and stderr'),
      ...responses.leaks(secrets),
      ...commandOutputs.flatMap(({ text, allowed }) => secrets.find(text, 'command output', allowed)),
      ...secrets.find(persisted, 'tables outside the sealed columns'),
    ];
    expect(leaks).toEqual([]);
  });
});
