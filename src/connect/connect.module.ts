import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CallersModule } from '../callers/callers.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { CryptoModule } from '../crypto/crypto.module';
import { ProvidersModule } from '../providers/providers.module';
import { ConnectBrowserController } from './connect-browser.controller';
import { ConnectFlowService } from './connect-flow.service';
import { ConnectOutcomes } from './connect-outcomes';
import { ConnectSessionsController } from './connect-sessions.controller';
import { ConnectSessionsModule } from './connect-sessions.module';
import { ConnectSessionsService } from './connect-sessions.service';

/** The connect flow: sessions for callers, the browser's routes, and the deployment's policy. */
@Module({
  imports: [
    AuditModule,
    CallersModule,
    ConnectorsModule,
    CryptoModule,
    ProvidersModule,
    ConnectSessionsModule,
  ],
  controllers: [ConnectSessionsController, ConnectBrowserController],
  providers: [ConnectSessionsService, ConnectFlowService, ConnectOutcomes],
})
export class ConnectModule {}
