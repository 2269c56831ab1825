import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, type DomainErrorKind } from './domain-error';
import { requestIdFrom, sendError } from './error-response';

/** Also the status the command line records in the audit trail for a refused action. */
export const STATUS_BY_KIND: Record<DomainErrorKind, number> = {
  invalid: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  unavailable: 503,
  bad_gateway: 502,
  integrity: 500,
  internal: 500,
};

/** Maps a domain error to its status; the message is the error's own, which never holds a secret. */
@Catch(DomainError)
export class DomainErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('DomainError');

  catch(error: DomainError, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const statusCode = STATUS_BY_KIND[error.kind];
    if (statusCode >= 500) {
      this.logger.error(
        { code: error.code, errorType: error.name, requestId: requestIdFrom(request) },
        error.message,
      );
    }
    const response = http.getResponse<Response>();
    if (error.retryAfterSeconds !== undefined && !response.headersSent) {
      response.setHeader('Retry-After', String(error.retryAfterSeconds));
    }
    sendError(response, request, {
      statusCode,
      error: error.code,
      message: error.message,
    });
  }
}
