import { Module } from '@nestjs/common';
import { ProvidersModule } from '../../providers/providers.module';
import { ConnectorsModule } from '../connectors.module';
import { JobLeasesRepository } from './job-leases.repository';
import { RefreshAheadWorker } from './refresh-ahead.worker';

/** The background refresh-ahead job; the server imports it, the command line does not. */
@Module({
  imports: [ConnectorsModule, ProvidersModule],
  providers: [JobLeasesRepository, RefreshAheadWorker],
  exports: [RefreshAheadWorker],
})
export class RefreshAheadModule {}
