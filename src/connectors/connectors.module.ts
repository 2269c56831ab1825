import { Module } from '@nestjs/common';
import { CryptoModule } from '../crypto/crypto.module';
import { ExternalAccountsController } from './external-accounts.controller';
import { ExternalAccountsRepository } from './external-accounts.repository';
import { ExternalAccountsService } from './external-accounts.service';
import { TokenStorage } from './token-storage';

/**
 * Owns `external_accounts`: ExternalAccountsRepository holds every statement over it. Import the
 * module and call ExternalAccountsService to read or write tokens.
 */
@Module({
  imports: [CryptoModule],
  controllers: [ExternalAccountsController],
  providers: [ExternalAccountsRepository, ExternalAccountsService, TokenStorage],
  exports: [ExternalAccountsRepository, ExternalAccountsService, TokenStorage],
})
export class ConnectorsModule {}
