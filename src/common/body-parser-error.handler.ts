import type { NextFunction, Request, Response } from 'express';
import { sendError } from './error-response';

interface BodyParserError {
  type?: string;
  status?: number;
}

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
  const type = (error as BodyParserError | undefined)?.type;
  const answer = type ? ANSWERS[type] : undefined;
  if (!answer) {
    next(error);
    return;
  }
  sendError(response, request, answer);
}
