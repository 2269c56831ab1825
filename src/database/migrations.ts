import { AdoptExternalAccounts1764300000000 } from '../../migrations/1764300000000-AdoptExternalAccounts';
import { CreateKeyRotationJobs1764300001000 } from '../../migrations/1764300001000-CreateKeyRotationJobs';
import { CreateAdminAuditEvents1764300002000 } from '../../migrations/1764300002000-CreateAdminAuditEvents';
import { DeriveTokenKeyId1764300003000 } from '../../migrations/1764300003000-DeriveTokenKeyId';
import { CoalesceAuditRefusals1764350000000 } from '../../migrations/1764350000000-CoalesceAuditRefusals';
import { RecognizeEscapedEnvelopeKeys1764350001000 } from '../../migrations/1764350001000-RecognizeEscapedEnvelopeKeys';
import { AddTokenRefresh1764400000000 } from '../../migrations/1764400000000-AddTokenRefresh';
import { CreateKeyRegistry1764500000000 } from '../../migrations/1764500000000-CreateKeyRegistry';
import { AddProviderFlowSettings1764600000000 } from '../../migrations/1764600000000-AddProviderFlowSettings';
import { CreateConnectSessions1764600001000 } from '../../migrations/1764600001000-CreateConnectSessions';
import { AddRevocationRetry1764700000000 } from '../../migrations/1764700000000-AddRevocationRetry';
import { CreateKeyIncidents1764710000000 } from '../../migrations/1764710000000-CreateKeyIncidents';
import { CreateServiceClients1764720000000 } from '../../migrations/1764720000000-CreateServiceClients';
import { CreateTokenReadAudit1764720001000 } from '../../migrations/1764720001000-CreateTokenReadAudit';
import { PartitionRotationJobs1764730000000 } from '../../migrations/1764730000000-PartitionRotationJobs';

/** Every migration, in order, listed explicitly so the server, CLI and tests run the same set. */
export const MIGRATIONS = [
  AdoptExternalAccounts1764300000000,
  CreateKeyRotationJobs1764300001000,
  CreateAdminAuditEvents1764300002000,
  DeriveTokenKeyId1764300003000,
  CoalesceAuditRefusals1764350000000,
  RecognizeEscapedEnvelopeKeys1764350001000,
  AddTokenRefresh1764400000000,
  CreateKeyRegistry1764500000000,
  AddProviderFlowSettings1764600000000,
  CreateConnectSessions1764600001000,
  AddRevocationRetry1764700000000,
  CreateKeyIncidents1764710000000,
  CreateServiceClients1764720000000,
  CreateTokenReadAudit1764720001000,
  PartitionRotationJobs1764730000000,
];
