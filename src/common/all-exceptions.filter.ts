import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { isDatabaseTimeout, isDatabaseUnavailable } from './database-errors';
import { requestIdFrom, sendError } from './error-response';
import { safePath } from './safe-path';

const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
};

/** Message of an HTTP exception raised by the framework or our guards and pipes (never a body echo). */
function httpMessage(exception: HttpException, request: Request): { message: string; details?: string[] } {
  // The router's own 404 quotes the whole URL, query string included.
  if (exception instanceof NotFoundException)
    return { message: `No route for ${request.method} ${safePath(request.originalUrl)}` };
  const response = exception.getResponse();
  if (typeof response === 'object' && response !== null && 'details' in response) {
    const { message, details } = response as { message: string; details: string[] };
    return { message, details };
  }
  return { message: exception.message };
}

/**
 * Last line: anything not a domain error. Unknown errors answer a generic 500 with the request
 * id; the log line has the error's class and code, never its message, stack or SQL parameters.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Unhandled');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    if (exception instanceof HttpException) {
      const statusCode = exception.getStatus();
      const code = CODE_BY_STATUS[statusCode] ?? 'HTTP_ERROR';
      sendError(response, request, { statusCode, error: code, ...httpMessage(exception, request) });
      return;
    }
    const errorType = exception instanceof Error ? exception.constructor.name : typeof exception;
    const requestId = requestIdFrom(request);
    if (isDatabaseTimeout(exception)) {
      this.logger.warn({ errorType, requestId }, 'database timeout');
      if (!response.headersSent) response.setHeader('Retry-After', '1');
      sendError(response, request, {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'DATABASE_TIMEOUT',
        message: 'The database did not answer in time; retry later',
      });
      return;
    }
    if (isDatabaseUnavailable(exception)) {
      this.logger.error({ errorType, requestId }, 'database unavailable');
      sendError(response, request, {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'DATABASE_UNAVAILABLE',
        message: 'The database is unavailable; retry later',
      });
      return;
    }
    this.logger.error({ errorType, requestId }, 'unhandled error');
    sendError(response, request, {
      statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
      error: 'INTERNAL_ERROR',
      message: 'Internal error',
    });
  }
}
