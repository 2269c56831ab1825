import {
  CallHandler,
  ExecutionContext,
  HttpException,
  Injectable,
  Logger,
  NestInterceptor,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { catchError, concatMap, from, throwError, type Observable } from 'rxjs';
import { databaseErrorCodeOf, isDatabaseTimeout, isDatabaseUnavailable } from '../common/database-errors';
import { DomainError } from '../common/domain-error';
import { STATUS_BY_KIND } from '../common/domain-error.filter';
import { adminAuditRecordOf, isAdminAudited, markAdminAuditWritten } from './admin-audit.middleware';
import { AdminAuditService } from './admin-audit.service';
import { AuditUnavailableError } from './audit.errors';

/** Requests that change nothing: recorded once answered, with the others, in batches. */
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The status the error filters will answer `error` with. */
function statusOf(error: unknown): number {
  if (error instanceof DomainError) return STATUS_BY_KIND[error.kind];
  if (error instanceof HttpException) return error.getStatus();
  return isDatabaseTimeout(error) || isDatabaseUnavailable(error) ? 503 : 500;
}

/**
 * Admin changes (keys, providers, callers, rotations...) are recorded before they answer: the
 * row is inserted, and only then is the answer sent, so a process killed right after a 2xx has
 * its row. Applies to every request the admin audit middleware sees that passed the guard and
 * is not a read; refusals by the guard or the rate budget stay in the coalescing buffer.
 *
 * When the row cannot be written, a change that was made answers 503 AUDIT_UNAVAILABLE (its row
 * is kept in memory and written once the database allows); a refused one keeps its own answer.
 */
@Injectable()
export class AdminChangeAuditInterceptor implements NestInterceptor {
  private readonly logger = new Logger(AdminChangeAuditInterceptor.name);

  constructor(private readonly audit: AdminAuditService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<Request>();
    if (!isAdminAudited(request) || READS.has(request.method)) return next.handle();
    const response = context.switchToHttp().getResponse<Response>();
    // The handler's error first: an error of the write below must not be recorded again.
    return next.handle().pipe(
      catchError((error: unknown) =>
        from(this.writeBeforeAnswer(request, statusOf(error), false)).pipe(
          concatMap(() => throwError(() => error)),
        ),
      ),
      concatMap(async (value: unknown) => {
        await this.writeBeforeAnswer(request, response.statusCode, true);
        return value;
      }),
    );
  }

  private async writeBeforeAnswer(request: Request, statusCode: number, changed: boolean): Promise<void> {
    const record = adminAuditRecordOf(request, statusCode);
    markAdminAuditWritten(request);
    try {
      await this.audit.write(record);
    } catch (error) {
      this.audit.record(record);
      this.logger.error(
        { errorCode: databaseErrorCodeOf(error), action: record.action },
        'an admin action could not be recorded before its answer; it waits in memory',
      );
      if (changed) {
        throw new AuditUnavailableError(
          'The change was made, but its audit record could not be written yet (it is kept and written once the database allows); check the change before repeating it',
          1,
        );
      }
    }
  }
}
