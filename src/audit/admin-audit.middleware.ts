import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { bearerTokenOf, fingerprintOf } from '../common/bearer-token';
import { safePath } from '../common/safe-path';
import { AdminAuditService, outcomeOf } from './admin-audit.service';

/**
 * Records every admin request once its answer is sent, whatever answered it: the rate limiter,
 * the guard, a pipe or the handler. The path is recorded without its query string, and with any
 * segment that is not a plain id or word masked.
 */
@Injectable()
export class AdminAuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AdminAuditService) {}

  use(request: Request, response: Response, next: NextFunction): void {
    const token = bearerTokenOf(request);
    const action = `${request.method} ${safePath(request.originalUrl).replace(/\?\[redacted\]$/, '')}`.slice(
      0,
      200,
    );
    response.on('finish', () => {
      const requestId = response.getHeader('X-Request-Id');
      this.audit.record({
        action,
        outcome: outcomeOf(response.statusCode),
        statusCode: response.statusCode,
        actor: token ? fingerprintOf(token) : null,
        requestId: typeof requestId === 'string' ? requestId : null,
      });
    });
    next();
  }
}
