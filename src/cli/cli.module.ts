import { DynamicModule, Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ENTITIES } from '../app.entities';
import { AuditModule } from '../audit/audit.module';
import { CallersModule } from '../callers/callers.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { CryptoModule } from '../crypto/crypto.module';
import { DatabaseModule } from '../database/database.module';
import { KeyLifecycleModule } from '../key-lifecycle/key-lifecycle.module';
import { KeysModule } from '../keys/keys.module';
import { RevocationModule } from '../revocation/revocation.module';
import { RotationModule } from '../rotation/rotation.module';
import { configRootModule } from '../config/configuration';

/**
 * The server's providers without HTTP or logging transport, for the command line, with the audit
 * trail that the key lifecycle commands write to.
 */
@Module({})
export class CliModule {
  static forRoot(): DynamicModule {
    return {
      module: CliModule,
      imports: [
        configRootModule(),
        EventEmitterModule.forRoot(),
        DatabaseModule.forRoot(ENTITIES),
        KeysModule.forRoot({ fleet: false }),
        CryptoModule,
        ConnectorsModule,
        RotationModule,
        KeyLifecycleModule,
        AuditModule,
        RevocationModule,
      ],
    };
  }

  /** Callers and the audit trail: the caller commands need no key. */
  static callersOnly(): DynamicModule {
    return {
      module: CliModule,
      imports: [configRootModule(), DatabaseModule.forRoot(ENTITIES), CallersModule],
    };
  }

  /** The audit trail alone: for a lifecycle command whose keys could not be loaded. */
  static auditTrailOnly(): DynamicModule {
    return {
      module: CliModule,
      imports: [configRootModule(), DatabaseModule.forRoot(ENTITIES), AuditModule],
    };
  }
}
