import { Module } from '@nestjs/common';
import { CryptoModule } from '../crypto/crypto.module';
import { OAuthTokenClient } from './oauth-token.client';
import { ProviderMetadataClient } from './provider-metadata.client';
import { ProviderClientsRepository } from './provider-clients.repository';
import { ProviderClientsService } from './provider-clients.service';

/** Owns `provider_clients` and speaks to the providers' token endpoints. */
@Module({
  imports: [CryptoModule],
  providers: [ProviderClientsRepository, ProviderClientsService, OAuthTokenClient, ProviderMetadataClient],
  exports: [ProviderClientsService, OAuthTokenClient],
})
export class ProvidersModule {}
