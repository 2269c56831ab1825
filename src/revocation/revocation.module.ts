import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { GrantIncidentService } from './grant-incident.service';
import { RevocationWorker } from './revocation.worker';

/**
 * Ending grants at the provider after the fact: the worker that retries the revocations of
 * disconnected accounts (`revoking`), and the grant incident (`incident:grants`, the admin
 * route). Above the audit trail, which records how each revocation the worker ends. The command
 * line sets REVOCATION_WORKER_ENABLED=false: it never runs the worker.
 */
@Module({
  imports: [ConnectorsModule, AuditModule],
  providers: [RevocationWorker, GrantIncidentService],
  exports: [RevocationWorker, GrantIncidentService],
})
export class RevocationModule {}
