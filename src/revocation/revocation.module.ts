import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { RevocationWorker } from './revocation.worker';

/**
 * Ending grants at the provider after the fact: the worker that retries the revocations of
 * disconnected accounts (`revoking`). Above the audit trail, which records how each one ended.
 * The command line sets REVOCATION_WORKER_ENABLED=false: it never runs the worker.
 */
@Module({
  imports: [ConnectorsModule, AuditModule],
  providers: [RevocationWorker],
  exports: [RevocationWorker],
})
export class RevocationModule {}
