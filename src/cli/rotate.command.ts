import type { INestApplicationContext } from '@nestjs/common';
import { hostname, userInfo } from 'node:os';
import { KeyUsageService } from '../key-lifecycle/key-usage.service';
import type { RotationJobView } from '../rotation/rotation-job.view';
import { isActive } from '../rotation/key-rotation-job.entity';
import { RotationAlreadyActiveError } from '../rotation/rotation.errors';
import { RotationService } from '../rotation/rotation.service';
import { RotationWorker } from '../rotation/rotation.worker';
import { PROGRESS_EVERY_MS, ProgressReporter } from './progress-reporter';

type Output = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean };

export interface RotateOptions {
  dryRun: boolean;
  batchSize?: number;
}

const FAILURES_LISTED = 1000;

/** Exit code: 0 every account on the primary key (dry run: none would fail), 1 otherwise, 3 lease lost. */
export async function rotate(
  context: INestApplicationContext,
  options: RotateOptions,
  out: Output,
  signal: AbortSignal,
): Promise<number> {
  const rotation = context.get(RotationService);
  const job = await resumeOrStart(rotation, options, out);
  const reporter = new ProgressReporter(out, out.isTTY === true);
  const worker = context.get(RotationWorker);
  const final = await worker.runJob(job.id, {
    onProgress: (view) => reporter.update(view),
    progressEveryMs: PROGRESS_EVERY_MS,
    signal,
  });
  reporter.finish();
  const [rotated, failed] = final.dryRun ? ['would rotate', 'would fail'] : ['rotated', 'failed'];
  out.write(
    `rotation job ${final.id} ${final.status}${final.dryRun ? ' (dry run)' : ''}: scanned ${final.scanned}, ` +
      `${rotated} ${final.rotated}, skipped ${final.skipped}, ${failed} ${final.failed}\n`,
  );
  return outcome(rotation, context.get(KeyUsageService), final, out, signal.aborted);
}

async function outcome(
  rotation: RotationService,
  keyUsage: KeyUsageService,
  final: RotationJobView,
  out: Output,
  interrupted: boolean,
) {
  if (isActive(final.status)) {
    if (interrupted) out.write('stopped before the end; run rotate again to resume the job\n');
    else out.write(`the lease was taken over by ${final.leaseOwner ?? 'another worker'}\n`);
    return interrupted ? 130 : 3;
  }
  if (final.status === 'cancelled') return 1;
  if (final.status === 'failed') {
    out.write(`the job failed (${final.lastErrorCode ?? 'unknown'}); run rotate to start again\n`);
    return 1;
  }
  await listFailures(rotation, final, out);
  if (final.dryRun) return final.failed > 0 ? 1 : 0;
  const { accountsToRotate } = await keyUsage.inventory();
  if (accountsToRotate === 0) return 0;
  out.write(`${accountsToRotate} accounts are still not on the primary key\n`);
  return 1;
}

/** The active job, which this process joins (other workers may run it too), or a new one. */
async function resumeOrStart(
  rotation: RotationService,
  options: RotateOptions,
  out: Output,
): Promise<RotationJobView> {
  const active = await rotation.findActiveJob();
  if (active) return resume(active, options, out);
  try {
    const job = await rotation.startRotation({ ...options, requestedBy: cliActor() });
    out.write(
      `started rotation job ${job.id}${job.dryRun ? ' (dry run)' : ''}: about ${job.totalEstimate} accounts ` +
        `to key ${job.targetKeyId}, ${job.batchSize} per batch, ${job.partitions.total} partitions\n`,
    );
    return job;
  } catch (error) {
    // Another process started one meanwhile: this one runs it with it.
    const started = error instanceof RotationAlreadyActiveError && (await rotation.findActiveJob());
    if (!started) throw error;
    return resume(started, options, out);
  }
}

function resume(active: RotationJobView, options: RotateOptions, out: Output): RotationJobView {
  out.write(
    `resuming rotation job ${active.id} (${active.status}${active.dryRun ? ', dry run' : ''}, ` +
      `pass ${active.pass}, ${active.scanned} accounts scanned so far)\n`,
  );
  const differs =
    options.dryRun !== active.dryRun || (options.batchSize ?? active.batchSize) !== active.batchSize;
  if (differs) out.write('note: the options given apply to new jobs; the running job keeps its own\n');
  return active;
}

async function listFailures(rotation: RotationService, job: RotationJobView, out: Output): Promise<void> {
  if (job.failed === 0) return;
  const failures = await rotation.listFailures(job.id, FAILURES_LISTED);
  out.write(`${job.failed} accounts ${job.dryRun ? 'would fail' : 'could not be rotated'}:\n`);
  for (const failure of failures) out.write(`  account ${failure.accountId}: ${failure.reason}\n`);
  if (job.failed > failures.length) out.write(`  ... and ${job.failed - failures.length} more\n`);
}

function cliActor(): string {
  return `cli:${currentUser()}@${hostname()}`.slice(0, 200);
}

/** Containers often run under a uid with no passwd entry, where userInfo() throws. */
function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
