import type { NextFunction, Request, Response } from 'express';
import { sendError } from './error-response';

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
}

/** Any other client error of the body parser (a body shorter than its length, an aborted upload). */
const UNREADABLE_BODY = {
  statusCode: 400,
  error: 'MALFORMED_BODY',
  message: 'Request body could not be read',
};

const ANSWERS: Record<string, { statusCode: number; error: string; message: string }> = {
  'entity.too.large': { statusCode: 413, error: 'PAYLOAD_TOO_LARGE', message: 'Request body is too large' },
  'entity.parse.failed': {
    statusCode: 400,
    error: 'MALFORMED_JSON',
    message: 'Request body is not valid JSON',
  },
  'encoding.unsupported': {
    statusCode: 415,
    error: 'UNSUPPORTED_ENCODING',
    message: 'Unsupported body encoding',
  },
  'charset.unsupported': {
    statusCode: 415,
    error: 'UNSUPPORTED_CHARSET',
    message: 'Unsupported body charset',
  },
};

/**
 * Body parser failures happen before Nest's pipeline; answer them here, without the body
 * (the parser's own message quotes it).
 */
export function bodyParserErrorHandler(
  error: unknown,
  request: Request,
  response: Response,
  next: NextFunction,
) {
  const failure = error as BodyParserError | undefined;
  const clientError = typeof failure?.status === 'number' && failure.status >= 400 && failure.status < 500;
  const answer =
    (failure?.type ? ANSWERS[failure.type] : undefined) ?? (clientError ? UNREADABLE_BODY : undefined);
  if (!answer) {
    next(error);
    return;
  }
  sendError(response, request, answer);
}
