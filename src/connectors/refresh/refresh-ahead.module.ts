import { Module } from '@nestjs/common';
import { ProvidersModule } from '../../providers/providers.module';
import { ConnectorsModule } from '../connectors.module';
import { RefreshAheadWorker } from './refresh-ahead.worker';

/** The background refresh-ahead job; the server imports it, the command line does not. */
@Module({
  imports: [ConnectorsModule, ProvidersModule],
  providers: [RefreshAheadWorker],
  exports: [RefreshAheadWorker],
})
export class RefreshAheadModule {}
