import type { INestApplicationContext } from '@nestjs/common';
import { outcomeOf } from '../audit/admin-audit-event.entity';
import { AdminAuditService } from '../audit/admin-audit.service';
import { databaseErrorCodeOf } from '../common/database-errors';
import { GrantIncidentService } from '../revocation/grant-incident.service';
import type { GrantIncidentReport } from '../revocation/grant-incident.view';
import type { IncidentGrantsCommand } from './cli-args';
import { cliActor, statusOfFailure } from './keys-lifecycle.command';
import { ProgressReporter } from './progress-reporter';

type Output = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean };

/**
 * Exit code: 0 when every matching grant is ended (revoked, or marked as not revocable), 1 while
 * some failed or remain (run again: done accounts are skipped), 130 when interrupted, 3 while
 * another run holds the provider's lease. Recorded in the audit trail as `CLI incident:grants
 * <provider>...`, done or refused.
 */
export async function incidentGrants(
  context: INestApplicationContext,
  command: IncidentGrantsCommand,
  out: Output,
  signal: AbortSignal,
): Promise<number> {
  const audit = context.get(AdminAuditService);
  const reporter = new ProgressReporter(out, out.isTTY === true);
  const { provider, userId, accountId } = command;
  let report: GrantIncidentReport;
  try {
    report = await context
      .get(GrantIncidentService)
      .run(
        { provider, userId, accountId },
        { signal, onProgress: (progress) => reporter.show(percentOf(progress), summary(progress)) },
      );
  } catch (error) {
    await record(audit, command, statusOfFailure(error));
    throw error;
  }
  reporter.finish();
  await record(audit, command, report.complete ? 200 : 502);
  if (command.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
  else print(report, out);
  if (report.complete) return 0;
  if (signal.aborted) {
    out.write('stopped before the end; run incident:grants again to finish\n');
    return 130;
  }
  return 1;
}

function percentOf(report: GrantIncidentReport): number {
  const todo = report.matched - report.alreadyDone;
  const done = report.revoked + report.notRevocable + report.failed;
  return todo <= 0 ? 100 : (done / todo) * 100;
}

function summary(report: GrantIncidentReport): string {
  return (
    `${report.provider}: matched ${report.matched}, revoked ${report.revoked}, ` +
    `not revocable ${report.notRevocable}, failed ${report.failed}, already done ${report.alreadyDone}`
  );
}

function print(report: GrantIncidentReport, out: Output): void {
  out.write(`incident:grants ${summary(report)}, remaining ${report.remaining}\n`);
  for (const failure of report.failures) out.write(`  account ${failure.accountId}: ${failure.code}\n`);
  if (report.failed > report.failures.length)
    out.write(`  ... and ${report.failed - report.failures.length} more\n`);
  if (report.notRevocable > 0)
    out.write(
      `${report.notRevocable} accounts were marked needs_reauth without a revocation: ` +
        `${report.provider} has no revocation endpoint configured, their grants live on at the provider\n`,
    );
  if (!report.complete)
    out.write(`${report.remaining} accounts remain; run incident:grants again to retry them\n`);
}

/** `CLI incident:grants google_drive user 7`: a slug and ids, validated; nothing secret. */
async function record(audit: AdminAuditService, command: IncidentGrantsCommand, statusCode: number) {
  const scope = [command.provider];
  if (command.userId !== undefined) scope.push(`user ${command.userId}`);
  if (command.accountId !== undefined) scope.push(`account ${command.accountId}`);
  try {
    await audit.write({
      action: `CLI incident:grants ${scope.join(' ')}`,
      outcome: outcomeOf(statusCode),
      statusCode,
      actor: cliActor(),
      clientAddress: null,
      requestId: null,
    });
  } catch (error) {
    process.stderr.write(
      `warning: the audit event of incident:grants was not written (${databaseErrorCodeOf(error)})\n`,
    );
  }
}
