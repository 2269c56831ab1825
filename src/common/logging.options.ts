import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import { safePath } from './safe-path';
import { scrubSecrets } from './secret-scrubber';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Reuses a caller's `X-Request-Id` when it is a plain identifier, so traces join across services. */
export function requestIdOf(request: IncomingMessage): string {
  const header = request.headers['x-request-id'];
  const candidate = Array.isArray(header) ? header[0] : header;
  return candidate && REQUEST_ID_PATTERN.test(candidate) ? candidate : randomUUID();
}

/** Paths that may carry a secret, removed before anything is serialised. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.access_token',
  '*.refresh_token',
  '*.accessToken',
  '*.refreshToken',
  '*.tokens',
  '*.password',
  '*.key',
];

export function loggingOptions(level: string): Params {
  return {
    pinoHttp: [
      {
        level,
        // The id assignRequestId gave the request; outside the app (a test module), a new one.
        genReqId: (request: IncomingMessage & { id?: unknown }, response: ServerResponse) => {
          if (typeof request.id === 'string') return request.id;
          const id = requestIdOf(request);
          response.setHeader('X-Request-Id', id);
          return id;
        },
        redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
        serializers: {
          req: (request: { id: string; method: string; url: string }) => ({
            id: request.id,
            method: request.method,
            url: safePath(request.url),
          }),
          res: (response: { statusCode: number | null; raw?: { statusCode: number } }) => ({
            statusCode: response.raw?.statusCode ?? response.statusCode,
          }),
          err: (error: Error & { code?: unknown }) => ({ type: error.constructor.name, code: error.code }),
        },
        formatters: { log: (record: Record<string, unknown>) => scrubSecrets(record) },
        customLogLevel: (_request, response, error) => {
          if (error || response.statusCode >= 500) return 'error';
          if (response.statusCode >= 400) return 'warn';
          return 'info';
        },
      },
      // process.stdout rather than a raw file descriptor, so every byte goes through one stream.
      process.stdout,
    ],
  };
}
