import type { RotationJobView } from '../rotation/rotation-job.view';
import type { KeyIncident } from './key-incident.entity';
import { keyIncidentReportOf, type IncidentFacts } from './key-incident.view';
import { keyUsageOf, type KeyUseCounts } from './key-usage';

const LEAKED = 'aaaaaaaaaaaaaaaa';
const NEW = 'bbbbbbbbbbbbbbbb';

function incident(overrides: Partial<KeyIncident> = {}): KeyIncident {
  return {
    keyId: LEAKED,
    mode: 'registry',
    replacementKeyId: NEW,
    rotationJobId: 4,
    accountsMatched: 100,
    providerSecretsMatched: 2,
    connectSessionsEnded: 1,
    lastErrorCode: null,
    startedBy: 'cli:ops@host',
    startedAt: new Date('2026-01-01T00:00:00Z'),
    updatedAt: new Date('2026-01-01T00:01:00Z'),
    finishedAt: null,
    ...overrides,
  };
}

function facts(counts: KeyUseCounts, overrides: Partial<IncidentFacts> = {}): IncidentFacts {
  return {
    keyId: LEAKED,
    mode: 'registry',
    incident: incident(),
    usage: keyUsageOf(counts),
    job: { id: 4, status: 'running' } as RotationJobView,
    failedAccounts: 0,
    retired: false,
    primaryKeyId: NEW,
    ...overrides,
  };
}

describe('keyIncidentReportOf', () => {
  it('counts what moved off the key since the start while the rotation runs', () => {
    const report = keyIncidentReportOf(
      facts({
        accounts: [
          { keyId: LEAKED, accounts: 30 },
          { keyId: NEW, accounts: 70 },
        ],
        providerClients: [{ keyId: LEAKED, clients: 2 }],
      }),
    );
    expect(report).toMatchObject({
      status: 'in_progress',
      complete: false,
      accounts: { matched: 100, resealed: 70, failed: 0, remaining: 30 },
      // The rotation re-seals client secrets at its end: not failed while it runs.
      providerSecrets: { matched: 2, resealed: 0, failed: 0, remaining: 2 },
      nextStep: null,
      lastErrorCode: null,
    });
  });

  it('says what is left and where to look once a run stopped with accounts the rotation could not open', () => {
    const report = keyIncidentReportOf(
      facts(
        { accounts: [{ keyId: LEAKED, accounts: 3 }], providerClients: [{ keyId: NEW, clients: 2 }] },
        {
          incident: incident({ lastErrorCode: 'ACCOUNTS_REMAIN' }),
          job: { id: 4, status: 'completed_with_errors' } as RotationJobView,
          failedAccounts: 3,
        },
      ),
    );
    expect(report).toMatchObject({
      status: 'stopped',
      lastErrorCode: 'ACCOUNTS_REMAIN',
      accounts: { matched: 100, resealed: 97, failed: 3, remaining: 3 },
      providerSecrets: { matched: 2, resealed: 2, failed: 0, remaining: 0 },
    });
    expect(report.nextStep).toContain('see the failures of rotation job 4 (GET /admin/rotations/4');
  });

  it('keeps the key needed while legacy v1 accounts remain: they name no key', () => {
    const report = keyIncidentReportOf(
      facts({ accounts: [{ keyId: 'legacy-v1', accounts: 5 }] }, { retired: false }),
    );
    expect(report.accounts.remaining).toBe(5);
    expect(report.complete).toBe(false);
  });

  it('is complete once the key is retired, and in env mode once nothing is under it, naming the setting', () => {
    const done = facts({ accounts: [{ keyId: NEW, accounts: 100 }] });
    expect(keyIncidentReportOf({ ...done, retired: true })).toMatchObject({
      status: 'retired',
      complete: true,
      nextStep: null,
    });
    const env = keyIncidentReportOf({
      ...done,
      mode: 'env',
      incident: incident({ mode: 'env', replacementKeyId: null, finishedAt: new Date() }),
    });
    expect(env).toMatchObject({ status: 'cleared', complete: true, retired: false });
    expect(env.nextStep).toContain(`remove it from WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS`);
  });
});
