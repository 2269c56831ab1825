import { Injectable } from '@nestjs/common';
import { sleep } from '../common/sleep';
import { KeyRing } from '../crypto/key-ring';
import { isActive } from '../rotation/key-rotation-job.entity';
import type { RotationJobView } from '../rotation/rotation-job.view';
import {
  RotationAlreadyActiveError,
  RotationLeaseHeldError,
  RotationNotCancellableError,
  RotationPrimaryKeyMissingError,
} from '../rotation/rotation.errors';
import { RotationService } from '../rotation/rotation.service';
import { RotationWorker } from '../rotation/rotation.worker';
import { IncidentNeedsNewPrimaryError } from './key-incident.errors';
import { KeyIncidentsRepository } from './key-incidents.repository';

/** What an incident run reports as it goes: the job after each batch, and one line per step. */
export interface IncidentProgress {
  onProgress?: (view: RotationJobView) => void | Promise<void>;
  /** As in `RunJobOptions`: at most this often, after the first batch. */
  progressEveryMs?: number;
  onStep?: (text: string) => void;
}

const FOLLOW_STEP_MS = 1000;

/**
 * The rotation of a key incident: one job to the primary key, found or started, and followed to
 * its end whoever runs it. A job already active to the primary key is the incident's (a rerun
 * picks up the job it started); any other active job is cancelled first, so the incident's goes
 * ahead of it. A job another worker holds (a server instance, or a process killed mid-job whose
 * lease has not run out) is followed until it ends or its lease does, then run here.
 */
@Injectable()
export class IncidentRotation {
  constructor(
    private readonly rotation: RotationService,
    private readonly worker: RotationWorker,
    private readonly incidents: KeyIncidentsRepository,
    private readonly ring: KeyRing,
  ) {}

  /** The job's last view; undefined when `signal` stopped the run before it had a job. */
  async run(
    keyId: string,
    actor: string,
    progress: IncidentProgress,
    signal: AbortSignal,
  ): Promise<RotationJobView | undefined> {
    const job = await this.jobFor(keyId, actor, progress, signal);
    return job && this.runToEnd(job, progress, signal);
  }

  private async jobFor(
    keyId: string,
    actor: string,
    progress: IncidentProgress,
    signal: AbortSignal,
  ): Promise<RotationJobView | undefined> {
    const target = this.ring.primaryKeyId;
    if (!target) throw new RotationPrimaryKeyMissingError();
    // Never a rotation to the leaked key: this process has not seen the new primary yet.
    if (target === keyId) throw new IncidentNeedsNewPrimaryError(keyId, target);
    while (!signal.aborted) {
      const active = await this.rotation.findActiveJob();
      if (active && active.targetKeyId === target && !active.dryRun) {
        await this.incidents.recordJob(keyId, active.id);
        progress.onStep?.(
          `continuing rotation job ${active.id} (${active.status}, ${active.scanned} scanned)`,
        );
        return active;
      }
      if (active) {
        const why = active.dryRun ? 'a dry run' : `to key ${active.targetKeyId}`;
        progress.onStep?.(
          `cancelling rotation job ${active.id} (${why}) so the incident's rotation goes first`,
        );
        await this.cancel(active.id, signal);
        continue;
      }
      try {
        const job = await this.rotation.startRotation({
          requestedBy: `${actor} incident:key ${keyId}`.slice(0, 200),
        });
        await this.incidents.recordJob(keyId, job.id);
        progress.onStep?.(
          `started rotation job ${job.id}: about ${job.totalEstimate} accounts to key ${job.targetKeyId}`,
        );
        return job;
      } catch (error) {
        // Another run started one between the look and the insert: take that one.
        if (!(error instanceof RotationAlreadyActiveError)) throw error;
      }
    }
    return undefined;
  }

  /** Until the job ends, or `signal` stops this run (the job stays resumable). */
  private async runToEnd(
    job: RotationJobView,
    progress: IncidentProgress,
    signal: AbortSignal,
  ): Promise<RotationJobView> {
    for (;;) {
      try {
        const view = await this.worker.runJob(job.id, {
          onProgress: progress.onProgress,
          progressEveryMs: progress.progressEveryMs,
          signal,
        });
        if (!isActive(view.status) || signal.aborted) return view;
      } catch (error) {
        if (!(error instanceof RotationLeaseHeldError)) throw error;
      }
      const view = await this.follow(job.id, progress, signal);
      if (!isActive(view.status) || signal.aborted) return view;
    }
  }

  /** Watches a job another worker holds until it ends or its lease runs out. */
  private async follow(jobId: number, progress: IncidentProgress, signal: AbortSignal) {
    let view = await this.rotation.getJob(jobId);
    if (isActive(view.status) && view.leaseOwner) {
      progress.onStep?.(
        `rotation job ${jobId} is held by ${view.leaseOwner} until ${view.leaseExpiresAt}: following it`,
      );
    }
    while (isActive(view.status) && !signal.aborted) {
      const leaseEnds = view.leaseExpiresAt ? Date.parse(view.leaseExpiresAt) : 0;
      if (!view.leaseOwner || leaseEnds <= Date.now()) return view;
      await sleep(Math.min(FOLLOW_STEP_MS, leaseEnds - Date.now() + 50), signal);
      view = await this.rotation.getJob(jobId);
      await progress.onProgress?.(view);
    }
    return view;
  }

  /** A running job under a live lease stops at its next batch; this waits for that. */
  private async cancel(jobId: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      let view: RotationJobView;
      try {
        view = await this.rotation.cancelJob(jobId);
      } catch (error) {
        if (error instanceof RotationNotCancellableError) return;
        throw error;
      }
      if (!isActive(view.status) || signal.aborted) return;
      await sleep(FOLLOW_STEP_MS, signal);
    }
  }
}
