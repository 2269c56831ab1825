import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { AdminAuditService } from '../audit/admin-audit.service';
import { databaseErrorCodeOf } from '../common/database-errors';
import { errorCodeOf } from '../common/domain-error';
import { sleep } from '../common/sleep';
import { keysConfig } from '../config/configuration';
import { ConnectKeyUsageService } from '../connect/connect-key-usage.service';
import { ExternalAccountsRepository } from '../connectors/external-accounts.repository';
import { KeyRing } from '../crypto/key-ring';
import { KeyRegistryLoader } from '../keys/key-registry.loader';
import { KeyNotLoadedEverywhereError } from '../keys/keys.errors';
import type { RotationJobView } from '../rotation/rotation-job.view';
import { RotationService } from '../rotation/rotation.service';
import { IncidentRotation, type IncidentProgress } from './incident-rotation';
import type { KeyIncident } from './key-incident.entity';
import {
  IncidentKeyNotConfiguredError,
  IncidentNeedsNewPrimaryError,
  KeyIncidentNotFoundError,
} from './key-incident.errors';
import { accountsUnder, keyIncidentReportOf, type KeyIncidentReport } from './key-incident.view';
import { KeyIncidentsRepository } from './key-incidents.repository';
import { KeyLifecycleService } from './key-lifecycle.service';
import { sealedUnder, type KeyUsage } from './key-usage';
import { KeyUsageService } from './key-usage.service';

export interface IncidentRunOptions extends IncidentProgress {
  /** Stops at the next batch boundary; the incident stays resumable. */
  signal?: AbortSignal;
}

/** Rounds of rotation while values keep appearing under the key (an instance still sealing with it). */
const MAX_ROUNDS = 3;
const RETIRE_RETRY_MS = 500;

/** Thrown in the transaction that adds a replacement key when another run recorded one first. */
class ReplacementAlreadyRecorded extends Error {}

/**
 * A key believed leaked, from "leaked" to "retired" in one command: in registry mode a new key is
 * added and promoted in its place; connect sessions sealed under it are ended; one rotation moves
 * every account and provider client secret off it; then the key is retired (env mode: the report
 * says which setting to remove it from). Every step can be repeated: a rerun after a crash
 * picks up the recorded replacement key and the incident's rotation job.
 */
@Injectable()
export class KeyIncidentService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(KeyIncidentService.name);
  private readonly stopping = new AbortController();
  /** Incidents this process drives in the background for the admin route, by key id. */
  private readonly driving = new Map<string, Promise<void>>();

  constructor(
    private readonly lifecycle: KeyLifecycleService,
    private readonly keyUsage: KeyUsageService,
    private readonly incidents: KeyIncidentsRepository,
    private readonly incidentRotation: IncidentRotation,
    private readonly rotation: RotationService,
    private readonly accounts: ExternalAccountsRepository,
    private readonly connectSessions: ConnectKeyUsageService,
    private readonly audit: AdminAuditService,
    private readonly ring: KeyRing,
    private readonly loader: KeyRegistryLoader,
    @Inject(keysConfig.KEY) private readonly keys: ConfigType<typeof keysConfig>,
  ) {}

  /** Runs the incident to its end in this call (the command line). */
  async run(keyId: string, actor: string, options: IncidentRunOptions = {}): Promise<KeyIncidentReport> {
    const begun = await this.begin(keyId, actor);
    if ('done' in begun) return begun.done;
    const signal = AbortSignal.any([this.stopping.signal, ...(options.signal ? [options.signal] : [])]);
    await this.drive(begun.incident, actor, options, signal);
    return this.report(keyId);
  }

  /**
   * Starts or continues the incident in the background (the admin route) and answers at once with
   * where it stands; `accepted` is false when there was nothing to do.
   */
  async start(keyId: string, actor: string): Promise<{ report: KeyIncidentReport; accepted: boolean }> {
    const begun = await this.begin(keyId, actor);
    if ('done' in begun) return { report: begun.done, accepted: false };
    if (!this.driving.has(keyId)) {
      const work = this.drive(begun.incident, actor, {}, this.stopping.signal)
        .catch((error: unknown) => {
          this.logger.warn(`key incident ${keyId} stopped (${databaseErrorCodeOf(error)}); run it again`);
        })
        .finally(() => this.driving.delete(keyId));
      this.driving.set(keyId, work);
    }
    return { report: await this.report(keyId), accepted: true };
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.driving.values());
  }

  /** `alreadyRetired`: a report for a key found retired, with or without an incident of its own. */
  async report(keyId: string, alreadyRetired = false): Promise<KeyIncidentReport> {
    const incident = await this.incidents.find(keyId);
    if (!incident && !alreadyRetired) throw new KeyIncidentNotFoundError(keyId);
    const retired = await this.isRetired(keyId);
    const [usage, job] = await Promise.all([
      this.keyUsage.usage(),
      incident?.rotationJobId ? this.rotation.getJob(incident.rotationJobId) : null,
    ]);
    const failedAccounts = job ? await this.accounts.countFailedUnderKey(job.id, keyId) : 0;
    return keyIncidentReportOf({
      keyId,
      mode: this.mode,
      incident,
      usage,
      job,
      failedAccounts,
      retired,
      primaryKeyId: this.ring.primaryKeyId,
      alreadyRetired,
    });
  }

  private get mode() {
    return this.lifecycle.registryMode ? ('registry' as const) : ('env' as const);
  }

  /** Refusals first, then the incident row; `done` when the key is already retired. */
  private async begin(
    keyId: string,
    actor: string,
  ): Promise<{ done: KeyIncidentReport } | { incident: KeyIncident }> {
    const usage = await this.keyUsage.usage();
    if (this.lifecycle.registryMode) {
      // KEY_NOT_FOUND for a key the registry never had.
      if ((await this.lifecycle.describe(keyId)).state === 'retired') return this.alreadyRetired(keyId);
    } else {
      if (!this.ring.keyIds().includes(keyId)) {
        const own = sealedUnder(usage, keyId) - usage.legacyV1;
        if (own > 0) throw new IncidentKeyNotConfiguredError(keyId, own);
        if (!(await this.incidents.find(keyId))) {
          throw new KeyIncidentNotFoundError(
            keyId,
            'no configured key has this id and nothing is sealed under it',
          );
        }
        return this.alreadyRetired(keyId);
      }
      if (this.ring.primaryKeyId === undefined || this.ring.primaryKeyId === keyId) {
        throw new IncidentNeedsNewPrimaryError(keyId, this.ring.primaryKeyId);
      }
      const existing = await this.incidents.find(keyId);
      if (existing?.finishedAt && sealedUnder(usage, keyId) === 0) return { done: await this.report(keyId) };
    }
    const incident = await this.incidents.open({
      keyId,
      mode: this.mode,
      accountsMatched: accountsUnder(usage, keyId),
      providerSecretsMatched: usage.providerClients.get(keyId) ?? 0,
      startedBy: actor,
    });
    return { incident };
  }

  private async alreadyRetired(keyId: string): Promise<{ done: KeyIncidentReport }> {
    if (await this.incidents.find(keyId)) await this.incidents.finish(keyId);
    return { done: await this.report(keyId, true) };
  }

  private async drive(
    incident: KeyIncident,
    actor: string,
    progress: IncidentProgress,
    signal: AbortSignal,
  ): Promise<void> {
    const { keyId } = incident;
    try {
      if (incident.mode === 'registry') await this.replacePrimary(incident, actor, progress);
      const left = await this.rotateOff(keyId, actor, progress, signal);
      if (signal.aborted) return;
      if (left !== undefined) {
        await this.incidents.recordError(keyId, left);
        return;
      }
      if (incident.mode === 'registry') await this.retire(keyId, actor, progress, signal);
      await this.incidents.finish(keyId);
      await this.record(
        actor,
        `incident:key ${keyId} ${incident.mode === 'registry' ? 'retired' : 'cleared'}`,
      );
    } catch (error) {
      await this.incidents.recordError(keyId, errorCodeOf(error)).catch((recordError: unknown) => {
        this.logger.warn(`key incident ${keyId}: error not recorded (${databaseErrorCodeOf(recordError)})`);
      });
      throw error;
    }
  }

  /**
   * Registry mode: a new primary key, unless the registry already has one that is not the leaked
   * key. The key is added in the transaction that records it on the incident, so a rerun
   * promotes that one and two runs at once never add two.
   */
  private async replacePrimary(incident: KeyIncident, actor: string, progress: IncidentProgress) {
    const { keyId } = incident;
    const primary = await this.lifecycle.registryPrimaryKeyId();
    if (primary !== undefined && primary !== keyId) {
      if (this.ring.primaryKeyId !== primary) await this.loader.refresh();
      progress.onStep?.(`primary key is ${primary}`);
      return;
    }
    let replacement = incident.replacementKeyId;
    if (!replacement) {
      try {
        replacement = (
          await this.lifecycle.add(actor, async (manager, added) => {
            if (!(await this.incidents.recordReplacement(manager, keyId, added)))
              throw new ReplacementAlreadyRecorded();
          })
        ).keyId;
        progress.onStep?.(`added key ${replacement} to replace key ${keyId}`);
      } catch (error) {
        if (!(error instanceof ReplacementAlreadyRecorded)) throw error;
        replacement = (await this.incidents.find(keyId))?.replacementKeyId as string;
      }
    }
    await this.lifecycle.promote(replacement, actor, this.keys.promotionTimeoutSeconds);
    progress.onStep?.(`key ${replacement} is primary`);
    await this.record(actor, `incident:key ${keyId} replaced by ${replacement}`);
  }

  /**
   * Rotations until nothing is sealed under the key; returns what remains when a rotation ended
   * short of that (failures, a cancelled or failed job), or undefined once nothing remains.
   */
  private async rotateOff(
    keyId: string,
    actor: string,
    progress: IncidentProgress,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    let previous: RotationJobView | undefined;
    for (let round = 0; !signal.aborted; round += 1) {
      const ended = await this.connectSessions.endSessionsSealedUnder(keyId);
      await this.incidents.addEndedSessions(keyId, ended);
      if (ended > 0) progress.onStep?.(`ended ${ended} connect sessions sealed under key ${keyId}`);
      const usage = await this.keyUsage.usage();
      if (sealedUnder(usage, keyId) === 0) return undefined;
      // A completed job that left values behind met ones written meanwhile: another round.
      if (previous && (previous.status !== 'completed' || round >= MAX_ROUNDS))
        return remainderOf(usage, keyId);
      previous = await this.incidentRotation.run(keyId, actor, progress, signal);
    }
    return undefined;
  }

  /** Retired once every live instance has stopped sealing with it (they follow the promotion within seconds). */
  private async retire(keyId: string, actor: string, progress: IncidentProgress, signal: AbortSignal) {
    const deadline = Date.now() + this.keys.promotionTimeoutSeconds * 1000;
    for (;;) {
      try {
        await this.lifecycle.retire(keyId, actor);
        progress.onStep?.(`retired key ${keyId}: it is no longer loaded and opens nothing`);
        return;
      } catch (error) {
        if (!(error instanceof KeyNotLoadedEverywhereError) || Date.now() >= deadline || signal.aborted)
          throw error;
      }
      await sleep(RETIRE_RETRY_MS, signal);
    }
  }

  private async isRetired(keyId: string): Promise<boolean> {
    if (!this.lifecycle.registryMode) return !this.ring.keyIds().includes(keyId);
    return (await this.lifecycle.describe(keyId)).state === 'retired';
  }

  /** The incident's own steps in the audit trail, beside the request or command that started it. */
  private async record(actor: string, action: string): Promise<void> {
    try {
      await this.audit.write({
        action,
        outcome: 'allowed',
        statusCode: 200,
        actor,
        clientAddress: null,
        requestId: null,
      });
    } catch (error) {
      this.logger.warn(`audit event "${action}" not written (${databaseErrorCodeOf(error)})`);
    }
  }
}

function remainderOf(usage: KeyUsage, keyId: string): string {
  if (accountsUnder(usage, keyId) > 0) return 'ACCOUNTS_REMAIN';
  if ((usage.providerClients.get(keyId) ?? 0) > 0) return 'PROVIDER_SECRETS_REMAIN';
  return 'CONNECT_SESSIONS_REMAIN';
}
