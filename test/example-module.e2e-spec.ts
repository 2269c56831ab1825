import { Test } from '@nestjs/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DataSource } from 'typeorm';
import { ReauthNotifierModule } from '../examples/reauth-notifier/reauth-notifier.module';
import { ReauthNotifierService } from '../examples/reauth-notifier/reauth-notifier.service';
import { AppModule } from '../src/app.module';
import { configureApp, createHttpAdapter } from '../src/app.setup';
import { httpSettings } from '../src/config/configuration';
import { validateEnvironment } from '../src/config/env.validation';
import { ExternalAccountsService } from '../src/connectors/external-accounts.service';
import { applyEnv, truncateAll } from './create-app';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { putProvider, refreshEnv } from './support/refresh-fixtures';

describe('the example module that imports ConnectorsModule', () => {
  const client = newClient();
  let as: AuthorizationServer;
  let app: NestExpressApplication;

  beforeAll(async () => {
    as = await AuthorizationServer.start([client]);
    applyEnv(refreshEnv());
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot(), ReauthNotifierModule],
    }).compile();
    const http = httpSettings(validateEnvironment(process.env));
    app = moduleRef.createNestApplication<NestExpressApplication>(createHttpAdapter(http), {
      bodyParser: false,
      bufferLogs: true,
    });
    configureApp(app, http);
    await app.init();
    await truncateAll(app.get(DataSource));
  });

  afterAll(async () => {
    await app?.close();
    await as?.stop();
  });

  it('gets fresh tokens through the service and hears account.needs_reauth once', async () => {
    const wrapper = { app, dataSource: app.get(DataSource), close: () => app.close() };
    expect((await putProvider(wrapper, 'notion', client, as.tokenUrl)).status).toBe(200);
    const accounts = app.get(ExternalAccountsService);
    const notifier = app.get(ReauthNotifierService);
    const refreshToken = await as.mint(client);
    const expired = Math.floor(Date.now() / 1000) - 5;
    const account = await accounts.createAccount(3, 'notion', {
      access_token: 'expired-token',
      refresh_token: refreshToken,
      expires_at: expired,
    });

    const fresh = await notifier.tokensForApiCall(3, account.id);
    expect(fresh.access_token).not.toBe('expired-token');
    expect(fresh.expires_at).toBeGreaterThan(Date.now() / 1000 + 60);
    expect(notifier.notices).toEqual([]);

    await as.revoke(client, fresh.refresh_token as string);
    await accounts.updateAccountTokens(3, account.id, { access_token: 'expired-again', expires_at: expired });
    await expect(notifier.tokensForApiCall(3, account.id)).rejects.toMatchObject({
      code: 'ACCOUNT_NEEDS_REAUTH',
    });
    await expect(notifier.tokensForApiCall(3, account.id)).rejects.toMatchObject({
      code: 'ACCOUNT_NEEDS_REAUTH',
    });
    expect(notifier.notices).toEqual([
      { userId: 3, accountId: account.id, provider: 'notion', reason: 'invalid_grant' },
    ]);
  });
});
