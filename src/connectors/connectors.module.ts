import { Module } from '@nestjs/common';
import { CryptoModule } from '../crypto/crypto.module';
import { ExternalAccountsController } from './external-accounts.controller';
import { ExternalAccountsService } from './external-accounts.service';
import { TokenStorage } from './token-storage';

/** Owns `external_accounts`; import it and call ExternalAccountsService to read or write tokens. */
@Module({
  imports: [CryptoModule],
  controllers: [ExternalAccountsController],
  providers: [ExternalAccountsService, TokenStorage],
  exports: [ExternalAccountsService, TokenStorage],
})
export class ConnectorsModule {}
