import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError, errorCodeOf } from '../common/domain-error';
import { EnvelopeService } from '../crypto/envelope.service';
import { isEndpointUrl } from './endpoint-url';
import type { ClientAuthMethod, ProviderClient } from './provider-client.entity';
import { toProviderClientView, type ProviderClientView } from './provider-client.view';
import { ProviderClientsRepository, type ProviderSecretRow } from './provider-clients.repository';
import {
  ProviderClientInvalidError,
  ProviderClientNotFoundError,
  ProviderNotConfiguredError,
} from './provider.errors';

export interface ProviderClientInput {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  clientAuth?: ClientAuthMethod;
  revocationUrl?: string | null;
  scope?: string | null;
}

/** What a refresh request needs: the client, its secret opened. Held only for the request. */
export interface ResolvedProviderClient {
  provider: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  clientAuth: ClientAuthMethod;
  scope: string | null;
}

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
  ) {}

  async put(provider: string, input: ProviderClientInput): Promise<ProviderClientView> {
    if (!isEndpointUrl(input.tokenUrl)) throw new ProviderClientInvalidError('tokenUrl');
    if (input.revocationUrl != null && !isEndpointUrl(input.revocationUrl))
      throw new ProviderClientInvalidError('revocationUrl');
    const stored = await this.clients.upsert(provider, {
      tokenUrl: input.tokenUrl,
      revocationUrl: input.revocationUrl ?? null,
      clientId: input.clientId,
      clientSecret: this.seal(provider, input.clientSecret),
      clientAuth: input.clientAuth ?? 'client_secret_basic',
      scope: input.scope ?? null,
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

  /** The client with its secret opened, for one refresh request. */
  async resolve(provider: string): Promise<ResolvedProviderClient> {
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
    };
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
