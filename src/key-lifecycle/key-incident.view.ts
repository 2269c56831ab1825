import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { iso } from '../common/iso-time';
import { isActive } from '../rotation/key-rotation-job.entity';
import { RotationJobView } from '../rotation/rotation-job.view';
import type { KeyIncident, KeyMode } from './key-incident.entity';
import type { KeyUsage } from './key-usage';

export const INCIDENT_STATUSES = ['in_progress', 'stopped', 'retired', 'cleared'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export class IncidentCounts {
  @ApiProperty({ description: 'Under the key when the incident started' }) matched: number;
  @ApiProperty({ description: 'No longer under the key: re-sealed with the new primary key' })
  resealed: number;
  @ApiProperty({ description: 'Recorded as failed by the rotation and still under the key' }) failed: number;
  @ApiProperty({ description: 'Still under the key now' }) remaining: number;
}

/** Where an incident stands: what it matched, moved and could not move, and whether the key is retired. */
export class KeyIncidentReport {
  @ApiProperty() keyId: string;
  @ApiProperty({ enum: ['env', 'registry'] }) mode: KeyMode;
  @ApiProperty({
    enum: INCIDENT_STATUSES,
    description:
      'in_progress: working (or its run was stopped without a word: run it again); stopped: see ' +
      'lastErrorCode and nextStep; retired: the key opens nothing any more; cleared (env mode): nothing ' +
      'is sealed under the key, remove it from the settings',
  })
  status: IncidentStatus;
  @ApiProperty({ description: 'retired or cleared' }) complete: boolean;
  @ApiProperty({ description: 'This call found the key already retired and changed nothing' })
  alreadyRetired: boolean;
  @ApiProperty({ description: 'Registry mode: retired; env mode: no longer configured' }) retired: boolean;
  @ApiPropertyOptional({ nullable: true, description: 'Registry mode: the key added in its place' })
  replacementKeyId: string | null;
  @ApiPropertyOptional({ nullable: true }) primaryKeyId: string | null;
  @ApiProperty({ type: IncidentCounts, description: 'Accounts; legacy v1 ones count as under every key' })
  accounts: IncidentCounts;
  @ApiProperty({ type: IncidentCounts }) providerSecrets: IncidentCounts;
  @ApiProperty({ description: 'Running connect sessions whose verifier was sealed under the key, ended' })
  connectSessionsEnded: number;
  @ApiPropertyOptional({ nullable: true }) rotationJobId: number | null;
  @ApiPropertyOptional({ type: RotationJobView, nullable: true }) rotation: RotationJobView | null;
  @ApiPropertyOptional({ nullable: true, description: 'Why the last run stopped short' })
  lastErrorCode: string | null;
  @ApiPropertyOptional({ nullable: true, description: 'What the operator does next, if anything' })
  nextStep: string | null;
  @ApiPropertyOptional({ nullable: true }) startedAt: string | null;
  @ApiPropertyOptional({ nullable: true }) startedBy: string | null;
  @ApiPropertyOptional({ nullable: true }) finishedAt: string | null;
}

export interface IncidentFacts {
  keyId: string;
  mode: KeyMode;
  incident: KeyIncident | undefined;
  usage: KeyUsage;
  job: RotationJobView | null;
  /** Accounts the job recorded as failed that are still under the key. */
  failedAccounts: number;
  /** Registry mode: the key is retired; env mode: no configured key has its id. */
  retired: boolean;
  primaryKeyId: string | undefined;
  alreadyRetired?: boolean;
}

/** Accounts that may need the key: sealed under it, or legacy v1 (no key id, may need any key). */
export function accountsUnder(usage: KeyUsage, keyId: string): number {
  return (usage.accounts.get(keyId)?.accounts ?? 0) + usage.legacyV1;
}

export function keyIncidentReportOf(facts: IncidentFacts): KeyIncidentReport {
  const { keyId, incident, usage, job } = facts;
  const accountsLeft = accountsUnder(usage, keyId);
  const secretsLeft = usage.providerClients.get(keyId) ?? 0;
  const jobEnded = job !== null && !isActive(job.status);
  const accounts = counts(incident?.accountsMatched ?? 0, accountsLeft, facts.failedAccounts);
  const providerSecrets = counts(
    incident?.providerSecretsMatched ?? 0,
    secretsLeft,
    jobEnded ? secretsLeft : 0,
  );
  const status = statusOf(facts, accountsLeft + secretsLeft + (usage.connectSessions.get(keyId) ?? 0));
  return {
    keyId,
    mode: facts.mode,
    status,
    complete: status === 'retired' || status === 'cleared',
    alreadyRetired: facts.alreadyRetired === true,
    retired: facts.retired,
    replacementKeyId: incident?.replacementKeyId ?? null,
    primaryKeyId: facts.primaryKeyId ?? null,
    accounts,
    providerSecrets,
    connectSessionsEnded: incident?.connectSessionsEnded ?? 0,
    rotationJobId: job?.id ?? null,
    rotation: job,
    lastErrorCode: status === 'stopped' ? (incident?.lastErrorCode ?? null) : null,
    nextStep: nextStepOf(status, facts, accounts),
    startedAt: iso(incident?.startedAt ?? null),
    startedBy: incident?.startedBy ?? null,
    finishedAt: iso(incident?.finishedAt ?? null),
  };
}

function counts(matched: number, remaining: number, failed: number): IncidentCounts {
  return {
    matched,
    resealed: Math.max(0, matched - remaining),
    failed: Math.min(failed, remaining),
    remaining,
  };
}

function statusOf(facts: IncidentFacts, left: number): IncidentStatus {
  if (facts.retired && left === 0) return 'retired';
  if (facts.mode === 'env' && facts.incident?.finishedAt && left === 0) return 'cleared';
  return facts.incident?.lastErrorCode ? 'stopped' : 'in_progress';
}

function nextStepOf(status: IncidentStatus, facts: IncidentFacts, accounts: IncidentCounts): string | null {
  const { keyId, job } = facts;
  const again = `then run incident:key ${keyId} again (or POST /admin/incidents/key)`;
  if (status === 'cleared') {
    return (
      `nothing is sealed under key ${keyId} any more: remove it from WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS ` +
      '(or JOBS_CRYPTO_SECONDARY_KEY) on every instance'
    );
  }
  if (status !== 'stopped') return null;
  const code = facts.incident?.lastErrorCode;
  if (code === 'ACCOUNTS_REMAIN' && job) {
    return (
      `${accounts.remaining} accounts are still under key ${keyId}: see the failures of rotation job ${job.id} ` +
      `(GET /admin/rotations/${job.id}, docs/rotation-runbook.md "Failures"), fix them, ${again}`
    );
  }
  if (code === 'PROVIDER_SECRETS_REMAIN') {
    return `put again each provider client whose secret could not be opened (PUT /admin/providers/:provider), ${again}`;
  }
  return `the last run stopped with ${code}: ${again}`;
}
