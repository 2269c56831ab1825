import { Inject, Injectable, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { refreshConfig } from '../config/configuration';
import {
  ADDRESS_LOOKUP,
  endpointTarget,
  isEndpointUrl,
  systemLookup,
  type AddressLookup,
} from './endpoint-url';
import { ProviderMetadataInvalidError, ProviderMetadataUnavailableError } from './provider.errors';

/** What the flow takes from an authorization server's metadata. */
export interface DiscoveredEndpoints {
  authorizationUrl: string | null;
  tokenUrl: string;
  revocationUrl: string | null;
  userinfoUrl: string | null;
  /** `authorization_response_iss_parameter_supported` (RFC 9207 §3). */
  issuerSendsIss: boolean;
}

const MAX_METADATA_BYTES = 256 * 1024;

/** OpenID Connect Discovery appends to the issuer; RFC 8414 §3.1 inserts before its path. */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

/**
 * Reads a provider's metadata (OpenID Connect Discovery, then RFC 8414). Its `issuer` must equal
 * the configured one, and every endpoint must pass the rule the admin API applies to typed URLs.
 */
@Injectable()
export class ProviderMetadataClient {
  constructor(
    @Inject(refreshConfig.KEY) private readonly config: ConfigType<typeof refreshConfig>,
    @Optional() @Inject(ADDRESS_LOOKUP) private readonly lookup: AddressLookup = systemLookup,
  ) {}

  async discover(provider: string, issuer: string): Promise<DiscoveredEndpoints> {
    let reachedAny = false;
    for (const url of metadataUrls(issuer)) {
      const document = await this.read(provider, url);
      if (document === 'unreachable') continue;
      reachedAny = true;
      if (document !== undefined) return endpointsOf(provider, issuer, document);
    }
    if (!reachedAny) throw new ProviderMetadataUnavailableError(provider);
    throw new ProviderMetadataInvalidError(provider, 'no metadata document at the issuer');
  }

  private async read(
    provider: string,
    url: string,
  ): Promise<Record<string, unknown> | 'unreachable' | undefined> {
    const target = await endpointTarget(url, this.lookup);
    if (target === undefined) return 'unreachable';
    let response: Response;
    try {
      response = await fetch(target, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.config.providerTimeoutMs),
      });
    } catch {
      // The cause can name the URL and the network error; only the fact is kept.
      return 'unreachable';
    }
    if (response.status >= 500) {
      await response.body?.cancel();
      throw new ProviderMetadataUnavailableError(provider);
    }
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text().catch(() => '');
    if (text.length > MAX_METADATA_BYTES)
      throw new ProviderMetadataInvalidError(provider, 'document too large');
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null && !Array.isArray(value))
        return value as Record<string, unknown>;
    } catch {
      // Described by the rule below, never quoted.
    }
    throw new ProviderMetadataInvalidError(provider, 'the document is not a JSON object');
  }
}

function endpointsOf(
  provider: string,
  issuer: string,
  document: Record<string, unknown>,
): DiscoveredEndpoints {
  if (document.issuer !== issuer)
    throw new ProviderMetadataInvalidError(provider, 'its issuer differs from the configured issuer');
  const endpoint = (name: string, required = false): string | null => {
    const value = document[name];
    if (value === undefined && !required) return null;
    if (!isEndpointUrl(value))
      throw new ProviderMetadataInvalidError(provider, `${name} breaks the endpoint rule`);
    return value as string;
  };
  return {
    authorizationUrl: endpoint('authorization_endpoint'),
    tokenUrl: endpoint('token_endpoint', true) as string,
    revocationUrl: endpoint('revocation_endpoint'),
    userinfoUrl: endpoint('userinfo_endpoint'),
    issuerSendsIss: document.authorization_response_iss_parameter_supported === true,
  };
}
