import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { connectConfig } from '../config/configuration';
import { AccountRevokingError } from '../connectors/external-account.errors';
import { ExternalAccountsService, type ProviderLimit } from '../connectors/external-accounts.service';
import { ProviderClientsService } from '../providers/provider-clients.service';
import { ProviderNotConfiguredError } from '../providers/provider.errors';
import { isAllowedReturnTo } from './connect-policy';
import type { ConnectSessionRow } from './connect-sessions.repository';
import { ConnectSessionsRepository } from './connect-sessions.repository';
import { oneTimeValue, sha256Hex } from './one-time-values';
import {
  ConnectAccountProviderMismatchError,
  ConnectNotConfiguredError,
  ConnectProviderDisabledError,
  ConnectProviderIncompleteError,
  ConnectReturnToRefusedError,
  ConnectSessionNotFoundError,
} from './connect.errors';

export interface CreateConnectSession {
  provider: string;
  scope?: string;
  returnTo?: string;
  accountId?: number;
}

/** A session as callers see it; `connectUrl` only in the answer that created it. */
export interface ConnectSessionView {
  id: string;
  provider: string;
  status: string;
  accountId?: number;
  error?: string;
  expiresAt: string;
}

/** Connect sessions for callers: every check is made before anything is stored. */
@Injectable()
export class ConnectSessionsService {
  constructor(
    @Inject(connectConfig.KEY) private readonly config: ConfigType<typeof connectConfig>,
    private readonly sessions: ConnectSessionsRepository,
    private readonly providers: ProviderClientsService,
    private readonly accounts: ExternalAccountsService,
  ) {}

  /** `limit`: the account of a reconnect must be of these providers (else not found). */
  async create(
    userId: number,
    input: CreateConnectSession,
    limit: ProviderLimit = {},
  ): Promise<ConnectSessionView & { connectUrl: string }> {
    const origin = this.config.publicOrigin;
    if (origin === undefined) throw new ConnectNotConfiguredError();
    const client = await this.providers.find(input.provider);
    if (!client) throw new ProviderNotConfiguredError(input.provider);
    const enabled = this.config.enabledProviders;
    if (enabled !== undefined && !enabled.includes(input.provider))
      throw new ConnectProviderDisabledError(input.provider);
    if (!client.authorizationUrl) throw new ConnectProviderIncompleteError(input.provider);
    if (input.returnTo !== undefined && !isAllowedReturnTo(input.returnTo, this.config.returnOrigins))
      throw new ConnectReturnToRefusedError();
    if (input.accountId !== undefined) {
      const account = await this.accounts.getAccount(userId, input.accountId, limit);
      if (account.provider !== input.provider) throw new ConnectAccountProviderMismatchError(input.accountId);
      // Its grant is being ended at the provider: a reconnect would make it active again.
      if (account.status === 'revoking') throw new AccountRevokingError(input.accountId);
    }
    await this.sessions.expire();
    const link = oneTimeValue();
    const session = await this.sessions.insert({
      id: randomUUID(),
      userId,
      provider: input.provider,
      accountId: input.accountId ?? null,
      scope: input.scope ?? null,
      returnTo: input.returnTo ?? null,
      linkHash: sha256Hex(link),
      ttlSeconds: this.config.sessionTtlSeconds,
    });
    return { ...toConnectSessionView(session), connectUrl: `${origin}/oauth/connect/${link}` };
  }

  async get(userId: number, id: string): Promise<ConnectSessionView> {
    const session = await this.sessions.find(userId, id);
    if (!session) throw new ConnectSessionNotFoundError();
    return toConnectSessionView(session);
  }
}

/** A running session past its time reads `expired` before the next clean-up writes it. */
export function toConnectSessionView(session: ConnectSessionRow, now = new Date()): ConnectSessionView {
  const running = session.status === 'pending' || session.status === 'opened';
  const expired = running && new Date(session.expiresAt) <= now;
  const view: ConnectSessionView = {
    id: session.id,
    provider: session.provider,
    status: expired ? 'expired' : session.status,
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
  if (session.accountId !== null) view.accountId = session.accountId;
  if (expired) view.error = 'connect_session_expired';
  else if (session.error !== null) view.error = session.error;
  return view;
}
