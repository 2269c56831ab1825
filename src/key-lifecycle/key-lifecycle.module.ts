import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ConnectSessionsModule } from '../connect/connect-sessions.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { ProvidersModule } from '../providers/providers.module';
import { RotationModule } from '../rotation/rotation.module';
import { IncidentRotation } from './incident-rotation';
import { KeyIncidentService } from './key-incident.service';
import { KeyIncidentsRepository } from './key-incidents.repository';
import { KeyLifecycleService } from './key-lifecycle.service';
import { KeyUsageService } from './key-usage.service';

/**
 * A key's life: add, promote, retire, the one count of what each key seals, and the incident of
 * a key believed leaked. Above every module that seals a value (accounts, provider clients,
 * connect sessions), which it counts, and above the rotation, which the incident runs.
 */
@Module({
  imports: [ConnectorsModule, ProvidersModule, ConnectSessionsModule, RotationModule, AuditModule],
  providers: [
    KeyUsageService,
    KeyLifecycleService,
    KeyIncidentsRepository,
    IncidentRotation,
    KeyIncidentService,
  ],
  exports: [KeyUsageService, KeyLifecycleService, KeyIncidentService],
})
export class KeyLifecycleModule {}
