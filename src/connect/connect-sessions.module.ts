import { Module } from '@nestjs/common';
import { ConnectKeyUsageService } from './connect-key-usage.service';
import { ConnectSessionsRepository } from './connect-sessions.repository';

/**
 * Owns `connect_sessions`. Apart from the flow (ConnectModule), so the key inventory and key
 * retirement can count the sealed verifiers without loading the HTTP surface.
 */
@Module({
  providers: [ConnectSessionsRepository, ConnectKeyUsageService],
  exports: [ConnectSessionsRepository, ConnectKeyUsageService],
})
export class ConnectSessionsModule {}
