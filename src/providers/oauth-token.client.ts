import { Inject, Injectable, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { refreshConfig } from '../config/configuration';
import { AppMetrics } from '../metrics/app-metrics';
import { ADDRESS_LOOKUP, endpointTarget, systemLookup, type AddressLookup } from './endpoint-url';
import type { ResolvedProviderClient } from './provider-clients.service';
import {
  ProviderInvalidGrantError,
  ProviderMisconfiguredError,
  ProviderRefusedError,
  ProviderUnavailableError,
} from './provider.errors';
import { bodyObjectOf, InvalidTokenResponse, readLimited, tokenResponseOf } from './token-response';

/** A provider's successful token response, as parsed; the caller validates it as a token set. */
export type TokenResponse = Record<string, unknown>;

/** The RFC 6749 §4.1.3 request: the redirect URI of the authorization request, and the PKCE verifier. */
export interface CodeExchange {
  code: string;
  redirectUri: string;
  codeVerifier?: string;
}

// An OAuth error code is ASCII without quotes or backslashes (RFC 6749 §5.2); anything else is not passed on.
const OAUTH_ERROR_CODE = /^[a-z][a-z0-9_.-]{0,63}$/;
const DEFAULT_RETRY_AFTER_SECONDS = 30;

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks of the Basic credentials too. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

/** The provider's `Retry-After` in seconds (1 to 3600), or undefined when it sent none in seconds. */
function statedRetryAfterOf(response: Response): number | undefined {
  const header = response.headers.get('retry-after');
  if (!header || !/^\d{1,5}$/.test(header.trim())) return undefined;
  return Math.min(Math.max(Number(header), 1), 3600);
}

function retryAfterOf(response: Response): number {
  return statedRetryAfterOf(response) ?? DEFAULT_RETRY_AFTER_SECONDS;
}

/** OAuth errors that say this service's client is refused, whatever the grant. */
const CLIENT_ERRORS = new Set(['invalid_client', 'unauthorized_client']);

/** The error a provider's OAuth error code stands for; the code is the only part of its body kept. */
function oauthErrorOf(provider: string, error: unknown, fallback: string, request: string): Error {
  const code = typeof error === 'string' && OAUTH_ERROR_CODE.test(error) ? error : undefined;
  if (code === 'invalid_grant') return new ProviderInvalidGrantError(provider);
  if (code !== undefined && CLIENT_ERRORS.has(code))
    return new ProviderMisconfiguredError(provider, code, request);
  return new ProviderRefusedError(provider, code ?? fallback, request);
}

/** The tokens of a grant to revoke, as stored. */
export interface RevocableTokens {
  accessToken: string;
  refreshToken?: string | null;
}

/** What the provider said to a revocation request (RFC 7009 §2.2). */
export type RevocationResult =
  { outcome: 'revoked' } | { outcome: 'not_supported' } | { outcome: 'refused'; code: string };

interface TokenEndpointRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Requests to a provider's token, revocation and userinfo endpoints. The provider's bodies are
 * parsed here and never logged or handed on: success is a parsed object, failure a domain error
 * with at most the OAuth error code.
 */
@Injectable()
export class OAuthTokenClient {
  constructor(
    @Inject(refreshConfig.KEY) private readonly config: ConfigType<typeof refreshConfig>,
    @Optional() private readonly metrics?: AppMetrics,
    @Optional() @Inject(ADDRESS_LOOKUP) private readonly lookup: AddressLookup = systemLookup,
  ) {}

  /** RFC 6749 §6. */
  async refresh(client: ResolvedProviderClient, refreshToken: string): Promise<TokenResponse> {
    const params: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken };
    if (client.scope) params.scope = client.scope;
    const response = await this.send(
      client,
      'refresh the tokens',
      tokenRequest(client, client.tokenUrl, params),
    );
    return this.outcome(client.provider, response, 'refresh request');
  }

  /** RFC 6749 §4.1.3 with RFC 7636 §4.5: the code, the same redirect URI, the verifier. */
  async exchangeCode(client: ResolvedProviderClient, exchange: CodeExchange): Promise<TokenResponse> {
    const params: Record<string, string> = {
      grant_type: 'authorization_code',
      code: exchange.code,
      redirect_uri: exchange.redirectUri,
    };
    if (exchange.codeVerifier !== undefined) params.code_verifier = exchange.codeVerifier;
    const request = tokenRequest(client, client.tokenUrl, params);
    const response = await this.send(client, 'exchange the code', request);
    return this.outcome(client.provider, response, 'code exchange');
  }

  /**
   * RFC 7009: the refresh token with its hint when there is one (revoking it ends the grant at
   * most providers), else the access token; authenticated and encoded as token requests are. A
   * 200 is success whatever the body; another answer below 500 (`unsupported_token_type`, 4xx)
   * is a refusal with its OAuth error code; 5xx, 429 and no answer are ProviderUnavailableError,
   * with the provider's Retry-After.
   */
  async revoke(client: ResolvedProviderClient, tokens: RevocableTokens): Promise<RevocationResult> {
    if (!client.revocationUrl) return { outcome: 'not_supported' };
    const params: Record<string, string> = tokens.refreshToken
      ? { token: tokens.refreshToken, token_type_hint: 'refresh_token' }
      : { token: tokens.accessToken, token_type_hint: 'access_token' };
    const request = tokenRequest(client, client.revocationUrl, params);
    const response = await this.send(client, 'revoke the grant', request);
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      throw new ProviderUnavailableError(
        client.provider,
        `HTTP_${response.status}`,
        retryAfterOf(response),
        'revoke the grant',
        statedRetryAfterOf(response),
      );
    }
    if (response.status === 200) {
      await response.body?.cancel();
      return { outcome: 'revoked' };
    }
    const parsed = await this.readBody(client.provider, response);
    const code =
      typeof parsed?.error === 'string' && OAUTH_ERROR_CODE.test(parsed.error) ? parsed.error : undefined;
    return { outcome: 'refused', code: code ?? `http_${response.status}` };
  }

  /** OpenID Connect userinfo with the new access token; a JSON object or a domain error. */
  async userinfo(client: ResolvedProviderClient, url: string, accessToken: string) {
    const headers = {
      authorization: `Bearer ${accessToken}`,
      accept: 'application/json',
      'accept-encoding': 'identity',
    };
    const request = { url, headers };
    const response = await this.fetch(client, 'read userinfo', request, 'GET');
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      throw new ProviderUnavailableError(client.provider, `HTTP_${response.status}`, 30, 'read userinfo');
    }
    const parsed = await this.readBody(client.provider, response);
    if (!response.ok || !parsed)
      throw new ProviderRefusedError(client.provider, 'invalid_userinfo', 'userinfo request');
    return parsed;
  }

  private send(client: ResolvedProviderClient, action: string, request: TokenEndpointRequest) {
    return this.fetch(client, action, request, 'POST');
  }

  private async fetch(
    client: ResolvedProviderClient,
    action: string,
    request: { url: string; headers: Record<string, string>; body?: string },
    method: 'GET' | 'POST',
  ) {
    const signal = AbortSignal.timeout(this.config.providerTimeoutMs);
    const { headers, body } = request;
    // Checked when used, not only when stored: a name under .localhost must still resolve to loopback.
    const url = await endpointTarget(request.url, this.lookup);
    if (url === undefined)
      throw new ProviderUnavailableError(
        client.provider,
        'ENDPOINT_NOT_LOOPBACK',
        DEFAULT_RETRY_AFTER_SECONDS,
        action,
      );
    try {
      return await fetch(url, { method, headers, body, signal, redirect: 'error' });
    } catch {
      // fetch's errors can name the URL and its cause, never the body; only the kind is kept.
      const reason = signal.aborted ? 'TIMEOUT' : 'UNREACHABLE';
      throw new ProviderUnavailableError(client.provider, reason, DEFAULT_RETRY_AFTER_SECONDS, action);
    }
  }

  private async outcome(provider: string, response: Response, request: string): Promise<TokenResponse> {
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      throw new ProviderUnavailableError(provider, `HTTP_${response.status}`, retryAfterOf(response));
    }
    const parsed = await this.readBody(provider, response);
    if (!response.ok)
      throw this.counted(oauthErrorOf(provider, parsed?.error, `http_${response.status}`, request));
    if (!parsed) throw new ProviderRefusedError(provider, 'invalid_response', request);
    // Some providers answer an error with a 200.
    if (parsed.error !== undefined)
      throw this.counted(oauthErrorOf(provider, parsed.error, 'invalid_response', request));
    try {
      return tokenResponseOf(parsed);
    } catch (error) {
      if (error instanceof InvalidTokenResponse)
        throw new ProviderRefusedError(provider, 'invalid_response', request);
      throw error;
    }
  }

  /** The provider is the name of a configured client; the error one of two OAuth codes. */
  private counted(error: Error): Error {
    if (error instanceof ProviderMisconfiguredError)
      this.metrics?.providerMisconfigured.inc({ provider: error.provider, error: error.oauthError });
    return error;
  }

  /** The body as an object, read no further than the limit; undefined when it cannot be one. */
  private async readBody(provider: string, response: Response) {
    let bytes: Buffer | undefined;
    try {
      bytes = await readLimited(response);
    } catch {
      // The connection dropped or the timeout fired while the body was read.
      throw new ProviderUnavailableError(provider, 'RESPONSE_INCOMPLETE');
    }
    return bytes && bodyObjectOf(bytes.toString('utf8'), response.headers.get('content-type'));
  }
}

/** The body in the client's format, with its credentials as Basic or in the body (RFC 6749 §2.3.1). */
function tokenRequest(
  client: ResolvedProviderClient,
  url: string,
  params: Record<string, string>,
): TokenEndpointRequest {
  // identity: a body is read up to a limit, and a compressed one would be inflated first.
  const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity' };
  const fields = { ...params };
  if (client.clientAuth === 'client_secret_basic') {
    const credentials = `${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    fields.client_id = client.clientId;
    fields.client_secret = client.clientSecret;
  }
  if (client.tokenRequestFormat === 'json') {
    headers['content-type'] = 'application/json';
    return { url, headers, body: JSON.stringify(fields) };
  }
  headers['content-type'] = 'application/x-www-form-urlencoded';
  return { url, headers, body: new URLSearchParams(fields).toString() };
}
