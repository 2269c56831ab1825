import type { NextFunction, Request, Response } from 'express';
import type { AppMetrics } from './app-metrics';

/**
 * A route template (`/users/:userId/accounts/:id`), never the path a client sent. A request no
 * controller matched carries the wildcard route of the middleware that saw it last (`/{*path}`):
 * no controller route has a wildcard, so one means `unmatched`.
 */
function routeOf(request: Request): string {
  const template: unknown = (request.route as { path?: unknown } | undefined)?.path;
  return typeof template === 'string' && !template.includes('*') ? template : 'unmatched';
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
