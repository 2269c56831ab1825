import { iso } from '../common/iso-time';
import type { AdminAuditEvent, AuditRecord } from './admin-audit-event.entity';

export interface AuditEventView extends AuditRecord {
  id: number;
  occurredAt: string;
  lastOccurredAt: string | null;
  count: number;
}

export interface AuditPage {
  events: AuditEventView[];
  nextCursor: string | null;
}

export function toAuditEventView(event: AdminAuditEvent): AuditEventView {
  return {
    id: Number(event.id),
    occurredAt: event.occurredAt.toISOString(),
    lastOccurredAt: iso(event.lastOccurredAt),
    count: event.count,
    action: event.action,
    outcome: event.outcome,
    statusCode: event.statusCode,
    actor: event.actor,
    clientAddress: event.clientAddress,
    requestId: event.requestId,
  };
}
