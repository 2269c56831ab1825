import { Module } from '@nestjs/common';
import { ConnectorsModule } from '../connectors/connectors.module';
import { CryptoModule } from '../crypto/crypto.module';
import { ProvidersModule } from '../providers/providers.module';
import { RotationJobRunner } from './rotation-job.runner';
import { RotationJobsRepository } from './rotation-jobs.repository';
import { RotationService } from './rotation.service';
import { RotationWorker } from './rotation.worker';

/** Rotation jobs; the admin routes and the CLI call RotationService and RotationWorker. */
@Module({
  imports: [ConnectorsModule, CryptoModule, ProvidersModule],
  providers: [RotationJobsRepository, RotationJobRunner, RotationService, RotationWorker],
  exports: [RotationService, RotationWorker],
})
export class RotationModule {}
