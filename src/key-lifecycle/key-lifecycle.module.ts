import { Module } from '@nestjs/common';
import { ConnectSessionsModule } from '../connect/connect-sessions.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { ProvidersModule } from '../providers/providers.module';
import { KeyLifecycleService } from './key-lifecycle.service';
import { KeyUsageService } from './key-usage.service';

/**
 * A key's life: add, promote, retire, and the one count of what each key seals. Above every
 * module that seals a value (accounts, provider clients, connect sessions), which it counts.
 */
@Module({
  imports: [ConnectorsModule, ProvidersModule, ConnectSessionsModule],
  providers: [KeyUsageService, KeyLifecycleService],
  exports: [KeyUsageService, KeyLifecycleService],
})
export class KeyLifecycleModule {}
