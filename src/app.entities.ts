import { AdminAuditEvent } from './audit/admin-audit-event.entity';
import { TokenReadRecord } from './audit/token-read.entity';
import { ServiceClientSecret } from './callers/service-client-secret.entity';
import { ServiceClient } from './callers/service-client.entity';
import { ConnectSession } from './connect/connect-session.entity';
import { ExternalAccount } from './connectors/external-account.entity';
import { JobLease } from './connectors/refresh/job-lease.entity';
import { KeyIncident } from './key-lifecycle/key-incident.entity';
import { RegistryInstance } from './keys/registry-instance.entity';
import { RegistryKey } from './keys/registry-key.entity';
import { ProviderClient } from './providers/provider-client.entity';
import { KeyRotationJob } from './rotation/key-rotation-job.entity';

/**
 * Every entity, listed explicitly: nothing is discovered by file globbing. It sits above every
 * module that owns an entity and is handed to the data-source options by the entry points.
 */
export const ENTITIES = [
  AdminAuditEvent,
  ConnectSession,
  ExternalAccount,
  JobLease,
  KeyIncident,
  KeyRotationJob,
  ProviderClient,
  RegistryKey,
  RegistryInstance,
  ServiceClient,
  ServiceClientSecret,
  TokenReadRecord,
];
