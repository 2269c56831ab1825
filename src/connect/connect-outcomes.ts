import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { outcomeOf } from '../audit/admin-audit-event.entity';
import { AdminAuditService } from '../audit/admin-audit.service';
import { requestIdFrom } from '../common/error-response';
import { AppMetrics } from '../metrics/app-metrics';

/** A provider label only when it is a slug this service could have stored; never text from a URL. */
const PROVIDER_LABEL = /^[a-z][a-z0-9_-]{1,63}$/;

/**
 * Records what happened to connect sessions in the audit trail and the metrics. Refusals on the
 * public routes are recorded as `forbidden`, which the trail coalesces per window and address,
 * so a flood of forged callbacks adds rows by the window, not by the request.
 */
@Injectable()
export class ConnectOutcomes {
  constructor(
    private readonly audit: AdminAuditService,
    private readonly metrics: AppMetrics,
  ) {}

  /** `outcome` is a status or a code of this service; `statusCode` what the browser or caller got. */
  record(request: Request, provider: string | undefined, outcome: string, statusCode: number): void {
    const label = provider !== undefined && PROVIDER_LABEL.test(provider) ? provider : 'unknown';
    this.metrics.connectSessions.inc({ provider: label, outcome });
    this.audit.record({
      action: `connect.${outcome}:${label}`,
      outcome: outcomeOf(statusCode),
      statusCode,
      actor: null,
      clientAddress: request.ip ?? null,
      requestId: requestIdFrom(request) ?? null,
    });
  }

  refused(request: Request, provider: string | undefined, reason: string): void {
    this.record(request, provider, `refused_${reason.replace(/^connect_/, '')}`, 403);
  }
}
