import type { NextFunction, Request, Response } from 'express';
import { sendError } from './error-response';
import { requestIdOf } from './logging.options';

/**
 * The request id, set before anything can answer: an error sent by the body parser carries it
 * as any other does. The request logger reuses it.
 */
export function assignRequestId(request: Request, response: Response, next: NextFunction): void {
  const id = requestIdOf(request);
  (request as Request & { id: string }).id = id;
  response.setHeader('X-Request-Id', id);
  next();
}

/**
 * Responses may carry tokens: no cache, shared or private, keeps one. Conditional GETs are not
 * supported: `If-None-Match: *` would otherwise get a 304 for a token set, so every answer is
 * sent in full.
 */
export function noStore(request: Request, response: Response, next: NextFunction): void {
  response.setHeader('Cache-Control', 'no-store');
  delete request.headers['if-none-match'];
  delete request.headers['if-modified-since'];
  next();
}

/** Keys that mean something to JavaScript objects. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 64;

function hasReservedKey(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.some((item) => hasReservedKey(item, depth + 1));
  return Object.keys(value).some(
    (key) => RESERVED_KEYS.has(key) || hasReservedKey((value as Record<string, unknown>)[key], depth + 1),
  );
}

/**
 * A JSON body with a `__proto__`, `constructor` or `prototype` key anywhere is refused as a whole,
 * on every route, before any pipe: such keys are not data any route stores, and a transformer
 * would drop some of them silently and keep others.
 */
export function refuseReservedKeys(request: Request, response: Response, next: NextFunction): void {
  if (!hasReservedKey(request.body, 0)) {
    next();
    return;
  }
  sendError(response, request, {
    statusCode: 400,
    error: 'BAD_REQUEST',
    message: 'Request validation failed',
    details: ['body: must not use __proto__, constructor or prototype as a key'],
  });
}
