import { Module } from '@nestjs/common';
import { CallersModule } from '../callers/callers.module';
import { CryptoModule } from '../crypto/crypto.module';
import { ProvidersModule } from '../providers/providers.module';
import { AccountTokenRefresher } from './refresh/account-token-refresher';
import { JobLeasesRepository } from './refresh/job-leases.repository';
import { ExternalAccountsController } from './external-accounts.controller';
import { ExternalAccountsRepository } from './external-accounts.repository';
import { ExternalAccountsService } from './external-accounts.service';
import { GrantRevoker } from './grant-revoker';
import { RevocationQueue } from './revocation-queue';
import { TokenStorage } from './token-storage';

/**
 * Owns `external_accounts`: ExternalAccountsRepository holds every statement over it. Import the
 * module and call ExternalAccountsService to read, refresh or write tokens; it emits the events
 * of account-events.ts, so the application needs `EventEmitterModule.forRoot()`. Its routes
 * are guarded by the callers module and record token reads in the audit trail.
 */
@Module({
  imports: [CryptoModule, ProvidersModule, CallersModule],
  controllers: [ExternalAccountsController],
  providers: [
    ExternalAccountsRepository,
    ExternalAccountsService,
    TokenStorage,
    AccountTokenRefresher,
    GrantRevoker,
    RevocationQueue,
    JobLeasesRepository,
  ],
  exports: [
    ExternalAccountsRepository,
    ExternalAccountsService,
    TokenStorage,
    GrantRevoker,
    RevocationQueue,
    JobLeasesRepository,
  ],
})
export class ConnectorsModule {}
