import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { DomainError, errorCodeOf } from '../common/domain-error';
import { connectConfig } from '../config/configuration';
import { ExternalAccountsService } from '../connectors/external-accounts.service';
import { tokenSetErrors, type TokenSet } from '../connectors/token-set';
import { EnvelopeService } from '../crypto/envelope.service';
import { OAuthTokenClient, type TokenResponse } from '../providers/oauth-token.client';
import { ProviderClientsService, type ResolvedFlowClient } from '../providers/provider-clients.service';
import { accountAllowed, claimsOf, type UserinfoClaims } from './connect-policy';
import { ConnectSessionsRepository, type TakenSession } from './connect-sessions.repository';
import { oneTimeValue, ONE_TIME_VALUE, s256Challenge, sha256Hex } from './one-time-values';

/** A step the browser routes cannot take: shown as a page; never anything the provider sent. */
export interface Refused {
  kind: 'refused';
  reason: string;
  provider?: string;
  sessionId?: string;
}

export interface Authorize {
  kind: 'authorize';
  location: string;
  sessionId: string;
  binding: string;
  maxAgeSeconds: number;
  provider: string;
}

/** A session taken by its callback and ended; `error` is a code of this service. */
export interface Finished {
  kind: 'finished';
  session: TakenSession;
  status: 'connected' | 'denied' | 'failed';
  error?: string;
  outcome: string;
}

/** The query of a callback, as the provider sent it; every field is untrusted text. */
export interface CallbackQuery {
  state?: unknown;
  code?: unknown;
  iss?: unknown;
  error?: unknown;
}

const OAUTH_ERROR_CODE = /^[a-z][a-z0-9_.-]{0,63}$/;

class FlowFailure extends Error {
  constructor(
    readonly error: string,
    readonly status: 'denied' | 'failed' = 'failed',
  ) {
    super(error);
  }
}

/**
 * The authorization-code flow for the browser (RFC 6749 §4.1 with RFC 7636 S256, RFC 9207 and the
 * rules of RFC 9700 §2.1): the link is spent once, the state taken once and only by the browser
 * that opened the link, the issuer checked, the code exchanged with the verifier and the one
 * redirect URI. A failure ends the session; tokens obtained but refused are revoked.
 */
@Injectable()
export class ConnectFlowService {
  private readonly logger = new Logger(ConnectFlowService.name);

  constructor(
    @Inject(connectConfig.KEY) private readonly config: ConfigType<typeof connectConfig>,
    private readonly sessions: ConnectSessionsRepository,
    private readonly providers: ProviderClientsService,
    private readonly oauth: OAuthTokenClient,
    private readonly envelopes: EnvelopeService,
    private readonly accounts: ExternalAccountsService,
  ) {}

  async open(link: string): Promise<Authorize | Refused> {
    const redirectUri = this.config.redirectUri;
    if (redirectUri === undefined) return { kind: 'refused', reason: 'connect_not_configured' };
    if (!ONE_TIME_VALUE.test(link)) return { kind: 'refused', reason: 'connect_link_invalid' };
    const linkHash = sha256Hex(link);
    const session = await this.sessions.findByLink(linkHash);
    if (!session) return { kind: 'refused', reason: 'connect_link_invalid' };
    if (!session.live) return this.expire(session);
    const client = await this.providers.resolve(session.provider).catch((error: unknown) => {
      if (error instanceof DomainError) return undefined;
      throw error;
    });
    if (!client?.authorizationUrl) {
      await this.sessions.finish(session.id, 'failed', 'connect_provider_incomplete');
      return { kind: 'refused', reason: 'connect_provider_incomplete', provider: session.provider };
    }
    const state = oneTimeValue();
    const binding = oneTimeValue();
    const verifier = client.pkce === 'S256' ? oneTimeValue() : undefined;
    const sealed = verifier === undefined ? null : this.seal(session.id, verifier);
    const opened = await this.sessions.open(
      session.id,
      linkHash,
      sha256Hex(state),
      sha256Hex(binding),
      sealed,
    );
    if (!opened) return { kind: 'refused', reason: 'connect_link_invalid', provider: session.provider };
    const location = authorizeUrl(client, redirectUri, state, session.scope, verifier);
    const maxAgeSeconds = Math.max(1, Math.ceil((new Date(opened.expiresAt).getTime() - Date.now()) / 1000));
    return {
      kind: 'authorize',
      location,
      sessionId: session.id,
      binding,
      maxAgeSeconds,
      provider: session.provider,
    };
  }

  async callback(query: CallbackQuery, bindings: string[]): Promise<Finished | Refused> {
    const state = query.state;
    if (typeof state !== 'string' || !ONE_TIME_VALUE.test(state))
      return { kind: 'refused', reason: 'connect_state_invalid' };
    const stateHash = sha256Hex(state);
    const session = await this.sessions.take(stateHash, bindings.map(sha256Hex));
    if (!session) return this.whyNotTaken(stateHash);
    try {
      const { account, outcome } = await this.complete(session, query);
      await this.sessions.finish(session.id, 'connected', null, account);
      return { kind: 'finished', session: { ...session, accountId: account }, status: 'connected', outcome };
    } catch (error) {
      const failure = error instanceof FlowFailure ? error : new FlowFailure(failureCodeOf(error));
      if (!(error instanceof FlowFailure)) this.logger.warn(`connect session failed (${errorCodeOf(error)})`);
      await this.sessions.finish(session.id, failure.status, failure.error);
      return {
        kind: 'finished',
        session,
        status: failure.status,
        error: failure.error,
        outcome: failure.status,
      };
    }
  }

  private async expire(session: { id: string; provider: string }): Promise<Refused> {
    await this.sessions.finish(session.id, 'expired', 'connect_session_expired');
    return {
      kind: 'refused',
      reason: 'connect_session_expired',
      provider: session.provider,
      sessionId: session.id,
    };
  }

  private async whyNotTaken(stateHash: string): Promise<Refused> {
    const session = await this.sessions.findByState(stateHash);
    if (!session) return { kind: 'refused', reason: 'connect_state_unknown' };
    if (!session.live) return this.expire(session);
    return {
      kind: 'refused',
      reason: 'connect_browser_mismatch',
      provider: session.provider,
      sessionId: session.id,
    };
  }

  private async complete(session: TakenSession, query: CallbackQuery) {
    const client = await this.providers.resolve(session.provider);
    checkIssuer(client, query.iss);
    if (query.error !== undefined) {
      const code =
        typeof query.error === 'string' && OAUTH_ERROR_CODE.test(query.error) ? query.error : 'error';
      throw new FlowFailure(`provider_${code}`, code === 'access_denied' ? 'denied' : 'failed');
    }
    if (typeof query.code !== 'string' || query.code.length === 0 || query.code.length > 4096)
      throw new FlowFailure('connect_code_missing');
    const codeVerifier = session.codeVerifier === null ? undefined : this.openVerifier(session);
    const redirectUri = this.config.redirectUri as string;
    const response = await this.oauth.exchangeCode(client, { code: query.code, redirectUri, codeVerifier });
    if (tokenSetErrors(response, 'response').length > 0) {
      await this.revoke(client, response);
      throw new FlowFailure('provider_invalid_response');
    }
    const tokens = response as unknown as TokenSet;
    const claims = await this.claims(client, tokens);
    if (!accountAllowed(claims, this.config.allowedAccountDomains)) {
      await this.revoke(client, response);
      throw new FlowFailure('connect_account_domain_denied', 'denied');
    }
    try {
      return await this.store(session, tokens, claims);
    } catch (error) {
      await this.revoke(client, response);
      throw error;
    }
  }

  private async claims(client: ResolvedFlowClient, tokens: TokenSet): Promise<UserinfoClaims> {
    if (!client.userinfoUrl) return claimsOf(undefined);
    try {
      return claimsOf(await this.oauth.userinfo(client, client.userinfoUrl, tokens.access_token));
    } catch (error) {
      await this.revoke(client, tokens as unknown as TokenResponse);
      if (error instanceof DomainError) throw new FlowFailure('provider_userinfo_failed');
      throw error;
    }
  }

  private async store(session: TakenSession, tokens: TokenSet, claims: UserinfoClaims) {
    if (session.reconnect && session.accountId !== null) {
      const stored = await this.accounts.getAccount(session.userId, session.accountId);
      if (!sameAccountEmail(stored.email, claims.email))
        throw new FlowFailure('connect_account_mismatch', 'denied');
      const account = await this.accounts.reconnectAccount(session.userId, session.accountId, tokens);
      return { account: account.id, outcome: 'reconnected' };
    }
    const profile = { email: claims.email, displayName: claims.displayName };
    const account = await this.accounts.createAccount(session.userId, session.provider, tokens, profile);
    return { account: account.id, outcome: 'connected' };
  }

  /** Best effort: a grant this service will not keep is ended at the provider when it can be. */
  private async revoke(client: ResolvedFlowClient, response: TokenResponse): Promise<void> {
    const refresh = typeof response.refresh_token === 'string' ? response.refresh_token : undefined;
    const access = typeof response.access_token === 'string' ? response.access_token : undefined;
    if (access === undefined || !client.revocationUrl) return;
    try {
      const result = await this.oauth.revoke(client, { accessToken: access, refreshToken: refresh });
      if (result.outcome === 'refused')
        this.logger.warn(`${client.provider} refused to revoke a refused grant (${result.code})`);
    } catch (error) {
      this.logger.warn(`revoking a refused grant at ${client.provider} failed (${errorCodeOf(error)})`);
    }
  }

  private seal(sessionId: string, verifier: string): string {
    return this.envelopes.encryptionEnabled
      ? this.envelopes.encryptJsonBlob(verifier, { connectSession: sessionId })
      : verifier;
  }

  private openVerifier(session: TakenSession): string {
    const stored = session.codeVerifier as string;
    if (this.envelopes.inspect(stored).format === 'plaintext') return stored;
    return this.envelopes.decryptJsonBlob<string>(stored, { connectSession: session.id });
  }
}

/** RFC 9207 §2.4: `iss`, when sent or advertised, must be the provider's issuer exactly. */
function checkIssuer(client: ResolvedFlowClient, iss: unknown): void {
  if (iss === undefined) {
    if (client.issuerSendsIss) throw new FlowFailure('connect_issuer_missing');
    return;
  }
  if (typeof iss !== 'string' || (client.issuer !== null && iss !== client.issuer))
    throw new FlowFailure('connect_issuer_mismatch');
}

function authorizeUrl(
  client: ResolvedFlowClient,
  redirectUri: string,
  state: string,
  scope: string | null,
  verifier: string | undefined,
): string {
  const url = new URL(client.authorizationUrl as string);
  for (const [name, value] of Object.entries(client.authorizationParams ?? {}))
    url.searchParams.set(name, value);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', client.clientId);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('state', state);
  const scopes = scope ?? client.scope;
  if (scopes) url.searchParams.set('scope', scopes.split(' ').join(client.scopeSeparator));
  else url.searchParams.delete('scope');
  if (verifier !== undefined) {
    url.searchParams.set('code_challenge', s256Challenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
  } else {
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');
  }
  return url.toString();
}

/** A session's error: a code of this service, never the provider's words. */
function failureCodeOf(error: unknown): string {
  const code = errorCodeOf(error);
  if (code === 'PROVIDER_INVALID_GRANT') return 'provider_invalid_grant';
  if (code === 'PROVIDER_REFUSED') return 'provider_refused';
  if (code === 'PROVIDER_UNAVAILABLE') return 'provider_unavailable';
  if (code === 'ACCOUNT_NOT_FOUND') return 'account_not_found';
  if (code === 'ACCOUNT_REVOKING') return 'account_revoking';
  if (code === 'PROVIDER_NOT_CONFIGURED') return 'provider_not_configured';
  return 'connect_failed';
}

/**
 * A reconnect must sign in as the account it reconnects: when both the stored email and the
 * provider's say who the account is, they agree (case-insensitively), so one user's grant is
 * never stored under another account's id.
 */
function sameAccountEmail(stored: string | null, signedIn: string | null): boolean {
  if (stored === null || signedIn === null) return true;
  return stored.toLowerCase() === signedIn.toLowerCase();
}
