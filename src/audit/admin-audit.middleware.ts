import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { bearerTokenOf, fingerprintOf } from '../common/bearer-token';
import { safePath } from '../common/safe-path';
import { requestIdFrom } from '../common/error-response';
import { outcomeOf, type AuditRecord } from './admin-audit-event.entity';
import { AdminAuditService } from './admin-audit.service';

/**
 * The action of a request: its method and route template (`POST /admin/rotations/:id/cancel`),
 * or, when no route matched, its path without the query string and with any segment that is
 * not a plain id or word masked.
 */
function actionOf(request: Request): string {
  const template: unknown = (request.route as { path?: unknown } | undefined)?.path;
  const path =
    typeof template === 'string' ? template : safePath(request.originalUrl).replace(/\?\[redacted\]$/, '');
  const subject = (request as AuditedRequest)[AUDIT_SUBJECT];
  return `${request.method} ${path}${subject ? ` ${subject}` : ''}`.slice(0, 200);
}

const AUDIT_SUBJECT = Symbol('auditSubject');
const AUDITED = Symbol('adminAudited');
const WRITTEN = Symbol('adminAuditWritten');
type AuditedRequest = Request & { [AUDIT_SUBJECT]?: string; [AUDITED]?: true; [WRITTEN]?: true };

/**
 * Names what an admin action was about in its audit row (`POST /admin/keys/:kid/retire <key id>`),
 * as the command line's rows do. Only a validated, non-secret id: a key id is one-way.
 */
export function setAuditSubject(request: Request, subject: string): void {
  (request as AuditedRequest)[AUDIT_SUBJECT] = subject;
}

/** True for a request of a route the admin trail records (the middleware below saw it). */
export function isAdminAudited(request: Request): boolean {
  return (request as AuditedRequest)[AUDITED] === true;
}

/** The request's row was written before its answer: the middleware does not record it again. */
export function markAdminAuditWritten(request: Request): void {
  (request as AuditedRequest)[WRITTEN] = true;
}

/** The row of an admin request answered with `statusCode`. */
export function adminAuditRecordOf(request: Request, statusCode: number): AuditRecord {
  const token = bearerTokenOf(request);
  return {
    action: actionOf(request),
    outcome: outcomeOf(statusCode),
    statusCode,
    actor: token ? fingerprintOf(token) : null,
    clientAddress: request.ip ?? null,
    requestId: requestIdFrom(request) ?? null,
  };
}

/**
 * Records every admin request once its answer is sent, whatever answered it: the rate budget,
 * the guard, a pipe or the handler. Changes made with the admin token were written before
 * their answer (AdminChangeAuditInterceptor) and are not recorded twice.
 */
@Injectable()
export class AdminAuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AdminAuditService) {}

  use(request: Request, response: Response, next: NextFunction): void {
    (request as AuditedRequest)[AUDITED] = true;
    response.on('finish', () => {
      if ((request as AuditedRequest)[WRITTEN]) return;
      this.audit.record(adminAuditRecordOf(request, response.statusCode));
    });
    next();
  }
}
