import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { bearerTokenOf, fingerprintOf } from '../common/bearer-token';
import { safePath } from '../common/safe-path';
import { outcomeOf } from './admin-audit-event.entity';
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
  return `${request.method} ${path}`.slice(0, 200);
}

/**
 * Records every admin request once its answer is sent, whatever answered it: the rate budget,
 * the guard, a pipe or the handler.
 */
@Injectable()
export class AdminAuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AdminAuditService) {}

  use(request: Request, response: Response, next: NextFunction): void {
    const token = bearerTokenOf(request);
    response.on('finish', () => {
      const requestId = response.getHeader('X-Request-Id');
      this.audit.record({
        action: actionOf(request),
        outcome: outcomeOf(response.statusCode),
        statusCode: response.statusCode,
        actor: token ? fingerprintOf(token) : null,
        clientAddress: request.ip ?? null,
        requestId: typeof requestId === 'string' ? requestId : null,
      });
    });
    next();
  }
}
