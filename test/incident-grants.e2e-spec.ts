import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import { ACCOUNT_EVENTS, type AccountEvent } from '../src/connectors/account-events';
import { ExternalAccountsService } from '../src/connectors/external-accounts.service';
import { GrantIncidentService } from '../src/revocation/grant-incident.service';
import { truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient, type OAuthClient } from './support/authorization-server';
import { ensureBuilt } from './support/built-server';
import { poll } from './support/fixtures';
import { newKey } from './support/rotation-fixtures';
import { cliEnv, runCli } from './support/rotation-cli';
import { admin, createRefreshApp, refreshEnv, service } from './support/refresh-fixtures';

const client = newClient('client_secret_basic');
const key = newKey();
const USERS = [11, 12, 13, 14];
const ACCOUNTS = 200;
const settings = refreshEnv(key, { INCIDENT_REVOKE_PER_MINUTE: '60000' });

describe('incident:grants ends every matching grant at the provider', () => {
  let as: AuthorizationServer;
  let testApp: TestApp;
  const needsReauth: AccountEvent[] = [];
  const http = () => request(testApp.app.getHttpServer());

  async function open() {
    testApp = await createRefreshApp(settings);
    testApp.app
      .get(EventEmitter2)
      .on(ACCOUNT_EVENTS.needsReauth, (event: AccountEvent) => needsReauth.push(event));
  }

  beforeAll(async () => {
    as = await AuthorizationServer.start([client]);
    await open();
    await truncateAll(testApp.dataSource);
  });

  afterAll(async () => {
    await testApp?.close();
    await as?.stop();
  });

  async function configure(provider: string, owner: OAuthClient, revocationUrl?: string) {
    const answer = await http()
      .put(`/admin/providers/${provider}`)
      .set(admin)
      .send({
        tokenUrl: as.tokenUrl,
        clientId: owner.clientId,
        clientSecret: owner.clientSecret,
        clientAuth: owner.auth,
        ...(revocationUrl ? { revocationUrl } : {}),
      });
    expect(answer.status).toBe(200);
  }

  /** Accounts holding the given refresh tokens, spread over the users; their ids in order. */
  async function connect(provider: string, refreshTokens: string[]): Promise<number[]> {
    const accounts = testApp.app.get(ExternalAccountsService);
    const ids: number[] = [];
    for (const [index, refreshToken] of refreshTokens.entries()) {
      const userId = USERS[index % USERS.length];
      const tokens = {
        access_token: `at-${provider}-${index}`,
        refresh_token: refreshToken,
        expires_in: 3600,
      };
      ids.push((await accounts.createAccount(userId, provider, tokens)).id);
    }
    return ids;
  }

  async function accountsOf(provider: string) {
    const lists = await Promise.all(
      USERS.map((userId) => http().get(`/users/${userId}/accounts`).set(service)),
    );
    return lists
      .flatMap(
        (list) => list.body as { id: number; provider: string; status: string; statusReason: string }[],
      )
      .filter((account) => account.provider === provider);
  }

  async function inactive(tokens: string[]): Promise<number> {
    let count = 0;
    for (let start = 0; start < tokens.length; start += 25) {
      const answers = await Promise.all(tokens.slice(start, start + 25).map((t) => as.introspect(client, t)));
      count += answers.filter((answer) => !answer.active).length;
    }
    return count;
  }

  const incident = (body: object) => http().post('/admin/incidents/grants').set(admin).send(body);

  it('revokes 200 grants and marks each account once, resumes a stopped run, and a second run revokes nothing new', async () => {
    await configure('google_drive', client, `${as.issuer}/token/revocation`);
    const refreshTokens = await as.mintMany(client, ACCOUNTS);
    const ids = await connect('google_drive', refreshTokens);
    const [bystander] = await connect('notion', [await as.mint(client)]);

    // A run stopped after 50 accounts (Ctrl-C, or a crash between two accounts) leaves them done.
    const stop = new AbortController();
    const first = await testApp.app
      .get(GrantIncidentService)
      .run(
        { provider: 'google_drive' },
        { signal: stop.signal, onProgress: (report) => report.revoked === 50 && stop.abort() },
      );
    expect(first).toMatchObject({
      matched: ACCOUNTS,
      revoked: 50,
      failed: 0,
      complete: false,
      remaining: 150,
    });

    // The next run takes the provider's lease: a concurrent one is refused while it works.
    await as.behave({ holdRevocations: true });
    const held = (await as.stats()).held;
    const finishing = incident({ provider: 'google_drive' }).then((answer) => answer);
    await poll(async () => ((await as.stats()).held > held ? true : undefined), 20_000);
    const concurrent = await incident({ provider: 'google_drive' });
    expect([concurrent.status, concurrent.body.error]).toEqual([409, 'INCIDENT_ALREADY_RUNNING']);
    await as.behave({});
    await as.release();
    const second = await finishing;

    expect(second.status).toBe(200);
    expect(second.body).toEqual({
      provider: 'google_drive',
      userId: null,
      accountId: null,
      matched: ACCOUNTS,
      alreadyDone: 50,
      revoked: 150,
      notRevocable: 0,
      failed: 0,
      remaining: 0,
      complete: true,
      failures: [],
    });
    expect(await inactive(refreshTokens)).toBe(ACCOUNTS);
    const marked = await accountsOf('google_drive');
    expect(marked).toHaveLength(ACCOUNTS);
    expect(marked.every((a) => a.status === 'needs_reauth' && a.statusReason === 'revoked_by_operator')).toBe(
      true,
    );
    expect(needsReauth.map((event) => event.accountId).sort((a, b) => a - b)).toEqual(ids);
    expect((await accountsOf('notion')).map((a) => [a.id, a.status])).toEqual([[bystander, 'active']]);

    const third = await incident({ provider: 'google_drive' });
    expect(third.body).toMatchObject({
      matched: ACCOUNTS,
      alreadyDone: ACCOUNTS,
      revoked: 0,
      complete: true,
    });
    expect(needsReauth).toHaveLength(ACCOUNTS);
    const audit = await http()
      .get(`/admin/audit?action=${encodeURIComponent('POST /admin/incidents/grants google_drive')}`)
      .set(admin);
    expect(audit.body.events.map((event: { statusCode: number }) => event.statusCode).sort()).toEqual([
      200, 200, 409,
    ]);
  });

  it('marks the accounts of a provider without a revocation endpoint, reported as not revocable', async () => {
    await configure('notion', client);
    const refreshToken = await as.mint(client);
    const [id] = await connect('notion', [refreshToken]);
    const before = needsReauth.length;

    const answer = await incident({ provider: 'notion', userId: USERS[0] });

    // The bystander of the first case is notion's too, under the same user.
    expect(answer.body).toMatchObject({ matched: 2, revoked: 0, notRevocable: 2, failed: 0, complete: true });
    expect(await as.introspect(client, refreshToken)).toMatchObject({ active: true });
    expect((await accountsOf('notion')).find((a) => a.id === id)).toMatchObject({
      status: 'needs_reauth',
      statusReason: 'revoked_by_operator',
    });
    expect(needsReauth).toHaveLength(before + 2);
  });

  it('connectors incident:grants prints the counts and exits 1 while grants remain failed, leaving them as they were', async () => {
    ensureBuilt();
    const unknown = newClient('client_secret_basic');
    await configure('dropbox', unknown, `${as.issuer}/token/revocation`);
    const ids = await connect('dropbox', [await as.mint(client), await as.mint(client)]);
    await testApp.close();

    const result = await runCli(['incident:grants', '--provider', 'dropbox'], cliEnv(settings), 'built');

    await open();
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(
      'incident:grants dropbox: matched 2, revoked 0, not revocable 0, failed 2, already done 0, remaining 2',
    );
    for (const id of ids) expect(result.stdout).toContain(`account ${id}: PROVIDER_REFUSED:invalid_client`);
    expect((await accountsOf('dropbox')).map((a) => a.status)).toEqual(['active', 'active']);
    const audit = await http()
      .get(`/admin/audit?action=${encodeURIComponent('CLI incident:grants dropbox')}`)
      .set(admin);
    expect(audit.body.events).toEqual([expect.objectContaining({ outcome: 'failed', statusCode: 502 })]);
  });
});
