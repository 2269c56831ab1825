import { Inject, Injectable, Optional } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError, errorCodeOf } from '../common/domain-error';
import { EnvelopeService } from '../crypto/envelope.service';
import { ADDRESS_LOOKUP, endpointTarget, systemLookup, type AddressLookup } from './endpoint-url';
import type {
  ClientAuthMethod,
  PkceMethod,
  ProviderClient,
  ScopeSeparator,
  TokenRequestFormat,
} from './provider-client.entity';
import { ProviderMetadataClient } from './provider-metadata.client';
import {
  flowSettingsOf,
  toProviderClientView,
  type ProviderClientView,
  type ProviderFlowSettings,
} from './provider-client.view';
import { ProviderClientsRepository, type ProviderSecretRow } from './provider-clients.repository';
import {
  ProviderClientInvalidError,
  ProviderClientNotFoundError,
  ProviderNotConfiguredError,
} from './provider.errors';

/** A client to store; with `issuer` and no `tokenUrl`, the endpoints come from the provider's metadata. */
export interface ProviderClientInput {
  tokenUrl?: string;
  clientId: string;
  clientSecret: string;
  clientAuth?: ClientAuthMethod;
  revocationUrl?: string | null;
  scope?: string | null;
  authorizationUrl?: string | null;
  issuer?: string | null;
  userinfoUrl?: string | null;
  scopeSeparator?: ScopeSeparator;
  authorizationParams?: Record<string, string> | null;
  pkce?: PkceMethod;
  tokenRequestFormat?: TokenRequestFormat;
}

/** What a request to the provider needs: the client, its secret opened. Held only for the request. */
export interface ResolvedProviderClient {
  provider: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  clientAuth: ClientAuthMethod;
  scope: string | null;
  tokenRequestFormat: TokenRequestFormat;
  revocationUrl?: string | null;
}

/** The whole client for the authorization-code flow, secret opened; held only for one step of it. */
export type ResolvedFlowClient = ResolvedProviderClient &
  Pick<ProviderClient, 'revocationUrl'> &
  ProviderFlowSettings;

export interface SecretKeyCount {
  keyId: string;
  clients: number;
}

export interface ResealSecretsResult {
  rotated: number;
  failed: { provider: string; reason: string }[];
}

export const PLAINTEXT_SECRET = 'plaintext';

/**
 * Provider clients: the admin API writes them, refreshes read them. The client secret is sealed
 * bound to the provider name (so a secret copied to another provider fails to open) and leaves
 * this service only in the body of a request to that provider's token endpoint.
 */
@Injectable()
export class ProviderClientsService {
  constructor(
    private readonly clients: ProviderClientsRepository,
    private readonly envelopes: EnvelopeService,
    private readonly metadata: ProviderMetadataClient,
    @Optional() @Inject(ADDRESS_LOOKUP) private readonly lookup: AddressLookup = systemLookup,
  ) {}

  /** Typed endpoints win over discovered ones; every URL, typed or discovered, passes the endpoint rule. */
  async put(provider: string, input: ProviderClientInput): Promise<ProviderClientView> {
    const issuer = input.issuer ?? null;
    if (issuer !== null && !(await endpointTarget(issuer, this.lookup)))
      throw new ProviderClientInvalidError('issuer');
    const discovered =
      issuer !== null && input.tokenUrl === undefined
        ? await this.metadata.discover(provider, issuer)
        : undefined;
    const endpoints = {
      tokenUrl: input.tokenUrl ?? discovered?.tokenUrl,
      revocationUrl: input.revocationUrl ?? discovered?.revocationUrl ?? null,
      authorizationUrl: input.authorizationUrl ?? discovered?.authorizationUrl ?? null,
      userinfoUrl: input.userinfoUrl ?? discovered?.userinfoUrl ?? null,
    };
    for (const [field, url] of Object.entries(endpoints)) {
      if (url === null || url === undefined) continue;
      // A name under .localhost over plain http is checked again on every request.
      if (!(await endpointTarget(url, this.lookup))) throw new ProviderClientInvalidError(field);
      // Stored as parsed: what is shown is where requests go (http://2130706433/ is 127.0.0.1).
      endpoints[field as keyof typeof endpoints] = new URL(url).href;
    }
    const stored = await this.clients.upsert(provider, {
      ...endpoints,
      tokenUrl: endpoints.tokenUrl as string,
      clientId: input.clientId,
      clientSecret: this.seal(provider, input.clientSecret),
      clientAuth: input.clientAuth ?? 'client_secret_basic',
      scope: input.scope ?? null,
      issuer,
      issuerSendsIss: discovered?.issuerSendsIss ?? false,
      scopeSeparator: input.scopeSeparator ?? ' ',
      authorizationParams: input.authorizationParams ?? null,
      pkce: input.pkce ?? 'S256',
      tokenRequestFormat: input.tokenRequestFormat ?? 'form',
    });
    return this.view(stored);
  }

  async list(): Promise<ProviderClientView[]> {
    const [clients, secrets] = await Promise.all([this.clients.list(), this.clients.secrets()]);
    const keyIds = new Map(secrets.map((row) => [row.provider, this.keyIdOf(row.clientSecret)]));
    return clients.map((client) =>
      toProviderClientView(client, keyIds.get(client.provider) ?? PLAINTEXT_SECRET),
    );
  }

  async get(provider: string): Promise<ProviderClientView> {
    const client = await this.clients.find(provider);
    if (!client) throw new ProviderClientNotFoundError(provider);
    return this.view(client);
  }

  async delete(provider: string): Promise<void> {
    if (!(await this.clients.delete(provider))) throw new ProviderClientNotFoundError(provider);
  }

  /** The client with its secret opened, for one request to the provider. */
  async resolve(provider: string): Promise<ResolvedFlowClient> {
    const [client, secret] = await Promise.all([
      this.clients.find(provider),
      this.clients.findSecret(provider),
    ]);
    if (!client || !secret) throw new ProviderNotConfiguredError(provider);
    return {
      provider,
      tokenUrl: client.tokenUrl,
      clientId: client.clientId,
      clientSecret: this.open(secret),
      clientAuth: client.clientAuth,
      scope: client.scope,
      tokenRequestFormat: client.tokenRequestFormat,
      revocationUrl: client.revocationUrl,
      ...flowSettingsOf(client),
    };
  }

  /** The client without its secret, or undefined: for checks made before any secret is needed. */
  find(provider: string): Promise<ProviderClient | undefined> {
    return this.clients.find(provider);
  }

  configuredProviders(): Promise<string[]> {
    return this.clients.providers();
  }

  /** Secrets per key id, for the key inventory; nothing is decrypted. */
  async countByKeyId(manager?: EntityManager): Promise<SecretKeyCount[]> {
    const counts = new Map<string, number>();
    for (const row of await this.clients.secrets(manager)) {
      const keyId = this.keyIdOf(row.clientSecret);
      counts.set(keyId, (counts.get(keyId) ?? 0) + 1);
    }
    return [...counts].map(([keyId, clients]) => ({ keyId, clients }));
  }

  /** Re-seals every secret not on `targetKeyId` with the primary key, compare-and-set on version. */
  async resealSecrets(manager: EntityManager, targetKeyId: string): Promise<ResealSecretsResult> {
    const result: ResealSecretsResult = { rotated: 0, failed: [] };
    for (const row of await this.clients.secrets(manager)) {
      if (this.keyIdOf(row.clientSecret) === targetKeyId) continue;
      try {
        const resealed = this.seal(row.provider, this.open(row));
        if (await this.clients.writeResealed(manager, row, resealed)) result.rotated += 1;
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        result.failed.push({ provider: row.provider, reason: errorCodeOf(error) });
      }
    }
    return result;
  }

  private view(client: ProviderClient): Promise<ProviderClientView> {
    return this.clients
      .findSecret(client.provider)
      .then((secret) =>
        toProviderClientView(client, secret ? this.keyIdOf(secret.clientSecret) : PLAINTEXT_SECRET),
      );
  }

  private seal(provider: string, secret: string): string {
    return this.envelopes.encryptionEnabled ? this.envelopes.encryptJsonBlob(secret, { provider }) : secret;
  }

  private open(row: ProviderSecretRow): string {
    const { format } = this.envelopes.inspect(row.clientSecret);
    if (format === 'plaintext') return row.clientSecret;
    return this.envelopes.decryptJsonBlob<string>(row.clientSecret, { provider: row.provider });
  }

  private keyIdOf(stored: string): string {
    const info = this.envelopes.inspect(stored);
    if (info.format === 'v3') return info.kid;
    return info.format === 'plaintext' ? PLAINTEXT_SECRET : `${info.format}:${'kid' in info ? info.kid : ''}`;
  }
}
