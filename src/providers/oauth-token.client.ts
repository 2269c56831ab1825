import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { refreshConfig } from '../config/configuration';
import type { ResolvedProviderClient } from './provider-clients.service';
import { ProviderInvalidGrantError, ProviderRefusedError, ProviderUnavailableError } from './provider.errors';

/** A provider's successful token response, as parsed; the caller validates it as a token set. */
export type TokenResponse = Record<string, unknown>;

// An OAuth error code is ASCII without quotes or backslashes (RFC 6749 §5.2); anything else is not passed on.
const OAUTH_ERROR_CODE = /^[a-z][a-z0-9_.-]{0,63}$/;
const MAX_RESPONSE_BYTES = 256 * 1024;
const DEFAULT_RETRY_AFTER_SECONDS = 30;

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks of the Basic credentials too. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

function retryAfterOf(response: Response): number {
  const header = response.headers.get('retry-after');
  const seconds = header && /^\d{1,5}$/.test(header.trim()) ? Number(header) : DEFAULT_RETRY_AFTER_SECONDS;
  return Math.min(Math.max(seconds, 1), 3600);
}

async function jsonObjectOf(response: Response): Promise<Record<string, unknown> | undefined> {
  const text = await response.text();
  if (text.length > MAX_RESPONSE_BYTES) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    // The body is not JSON: it is described by a code, never quoted (it may echo a token).
    return undefined;
  }
}

/**
 * The RFC 6749 §6 refresh request. The provider's bodies are parsed here and never logged or
 * handed on: success is a token response, failure a domain error with at most the OAuth error code.
 */
@Injectable()
export class OAuthTokenClient {
  constructor(@Inject(refreshConfig.KEY) private readonly config: ConfigType<typeof refreshConfig>) {}

  async refresh(client: ResolvedProviderClient, refreshToken: string): Promise<TokenResponse> {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
    if (client.scope) body.set('scope', client.scope);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (client.clientAuth === 'client_secret_basic') {
      const credentials = `${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    } else {
      body.set('client_id', client.clientId);
      body.set('client_secret', client.clientSecret);
    }
    const response = await this.post(client, headers, body);
    return this.outcome(client.provider, response);
  }

  private async post(client: ResolvedProviderClient, headers: Record<string, string>, body: URLSearchParams) {
    const signal = AbortSignal.timeout(this.config.providerTimeoutMs);
    try {
      return await fetch(client.tokenUrl, { method: 'POST', headers, body, signal, redirect: 'error' });
    } catch {
      // fetch's errors can name the URL and its cause, never the body; only the kind is kept.
      throw new ProviderUnavailableError(client.provider, signal.aborted ? 'TIMEOUT' : 'UNREACHABLE');
    }
  }

  private async outcome(provider: string, response: Response): Promise<TokenResponse> {
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      throw new ProviderUnavailableError(provider, `HTTP_${response.status}`, retryAfterOf(response));
    }
    const parsed = await this.readBody(provider, response);
    if (response.ok) {
      if (!parsed || typeof parsed.access_token !== 'string')
        throw new ProviderRefusedError(provider, 'invalid_response');
      return parsed;
    }
    const code =
      typeof parsed?.error === 'string' && OAUTH_ERROR_CODE.test(parsed.error) ? parsed.error : undefined;
    if (code === 'invalid_grant') throw new ProviderInvalidGrantError(provider);
    throw new ProviderRefusedError(provider, code ?? `http_${response.status}`);
  }

  private async readBody(provider: string, response: Response) {
    try {
      return await jsonObjectOf(response);
    } catch {
      // The connection dropped or the timeout fired while the body was read.
      throw new ProviderUnavailableError(provider, 'RESPONSE_INCOMPLETE');
    }
  }
}
