import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CallerAuthenticator } from './caller-authenticator';
import { CallerGuard } from './caller.guard';
import { CallersService } from './callers.service';
import { ServiceClientsRepository } from './service-clients.repository';

/**
 * Who calls the service routes: registered callers (`service_clients`, owned by
 * ServiceClientsRepository) and their lifecycle, and the guard that resolves a caller.
 */
@Module({
  imports: [AuditModule],
  providers: [ServiceClientsRepository, CallersService, CallerAuthenticator, CallerGuard],
  exports: [CallersService, CallerAuthenticator, CallerGuard, AuditModule],
})
export class CallersModule {}
