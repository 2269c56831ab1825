import type { INestApplicationContext } from '@nestjs/common';
import { AdminAuditService } from '../audit/admin-audit.service';
import { KeyIncidentService } from '../key-lifecycle/key-incident.service';
import type { IncidentCounts, KeyIncidentReport } from '../key-lifecycle/key-incident.view';
import type { CliCommand } from './cli-args';
import { cliActor, recordAction, statusOfFailure } from './keys-lifecycle.command';
import { PROGRESS_EVERY_MS, ProgressReporter } from './progress-reporter';

type Output = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean };
type IncidentKeyCommand = Extract<CliCommand, { name: 'incident:key' }>;

/**
 * Runs the incident of a key to its end, with a progress line while the rotation runs, and
 * prints the report. Exit code: 0 once the key is retired (env mode: nothing left under it),
 * 1 while anything remains under it, 130 interrupted. Recorded in the audit trail either way.
 */
export async function incidentKey(
  context: INestApplicationContext,
  command: IncidentKeyCommand,
  out: Output,
  signal: AbortSignal,
): Promise<number> {
  const actor = cliActor();
  const audit = context.get(AdminAuditService);
  const reporter = new ProgressReporter(out, out.isTTY === true);
  let report: KeyIncidentReport;
  try {
    report = await context.get(KeyIncidentService).run(command.keyId, actor, {
      signal,
      onProgress: (view) => reporter.update(view),
      progressEveryMs: PROGRESS_EVERY_MS,
      onStep: (text) => {
        reporter.finish();
        if (!command.json) out.write(`${text}\n`);
      },
    });
  } catch (error) {
    reporter.finish();
    await recordAction(audit, command, command.keyId, actor, statusOfFailure(error));
    throw error;
  }
  reporter.finish();
  out.write(command.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, signal.aborted));
  // 202: interrupted, to be resumed; 502: stopped with something left under the key.
  const status = report.complete ? 200 : signal.aborted ? 202 : 502;
  await recordAction(audit, command, command.keyId, actor, status);
  if (report.complete) return 0;
  return signal.aborted ? 130 : 1;
}

function countsLine(name: string, counts: IncidentCounts): string {
  return (
    `${name}: matched ${counts.matched}, re-sealed ${counts.resealed}, failed ${counts.failed}, ` +
    `remaining ${counts.remaining}`
  );
}

function formatReport(report: KeyIncidentReport, interrupted: boolean): string {
  const lines = [
    countsLine('accounts', report.accounts),
    countsLine('provider client secrets', report.providerSecrets),
  ];
  if (report.connectSessionsEnded > 0) lines.push(`connect sessions ended: ${report.connectSessionsEnded}`);
  if (report.rotation) {
    const job = report.rotation;
    lines.push(
      `rotation job ${job.id} ${job.status}: scanned ${job.scanned}, rotated ${job.rotated}, ` +
        `skipped ${job.skipped}, failed ${job.failed}`,
    );
  }
  if (report.alreadyRetired) lines.unshift(`key ${report.keyId} is already retired: nothing to do`);
  else if (report.status === 'retired') lines.push(`key ${report.keyId} is retired`);
  else if (interrupted) lines.push('stopped before the end; run incident:key again to resume');
  else if (report.status !== 'cleared') lines.push(`key ${report.keyId} is not retired (${report.status})`);
  if (report.nextStep) lines.push(`next: ${report.nextStep}`);
  return `${lines.join('\n')}\n`;
}
