import { DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { configRootModule } from '../config/configuration';
import { DatabaseModule } from '../database/database.module';
import { CliModule } from './cli.module';

/** The commands' providers and the audit trail that the key lifecycle commands write to. */
@Module({})
export class CliCommandsModule {
  static forRoot(): DynamicModule {
    return { module: CliCommandsModule, imports: [CliModule.forRoot(), AuditModule] };
  }

  /** The audit trail alone: for a lifecycle command whose keys could not be loaded. */
  static auditTrailOnly(): DynamicModule {
    return { module: CliCommandsModule, imports: [configRootModule(), DatabaseModule, AuditModule] };
  }
}
