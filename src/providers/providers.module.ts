import { Module } from '@nestjs/common';
import { CryptoModule } from '../crypto/crypto.module';
import { ADDRESS_LOOKUP, systemLookup } from './endpoint-url';
import { OAuthTokenClient } from './oauth-token.client';
import { ProviderMetadataClient } from './provider-metadata.client';
import { ProviderClientsRepository } from './provider-clients.repository';
import { ProviderClientsService } from './provider-clients.service';

/** Owns `provider_clients` and speaks to the providers' token endpoints. */
@Module({
  imports: [CryptoModule],
  providers: [
    ProviderClientsRepository,
    ProviderClientsService,
    OAuthTokenClient,
    ProviderMetadataClient,
    { provide: ADDRESS_LOOKUP, useValue: systemLookup },
  ],
  exports: [ProviderClientsService, OAuthTokenClient],
})
export class ProvidersModule {}
