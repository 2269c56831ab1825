import type { NextFunction, Request, Response } from 'express';
import type { AppMetrics } from './app-metrics';

/** A route template (`/users/:userId/accounts/:id`), never the path a client sent. */
function routeOf(request: Request): string {
  const template: unknown = (request.route as { path?: unknown } | undefined)?.path;
  return typeof template === 'string' ? template : 'unmatched';
}

/** Times every request from its arrival to the end of its answer. */
export function httpMetrics(metrics: AppMetrics) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const stop = metrics.httpRequestDuration.startTimer();
    response.on('finish', () => {
      stop({ method: request.method, route: routeOf(request), status: String(response.statusCode) });
    });
    next();
  };
}
