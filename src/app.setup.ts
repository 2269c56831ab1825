import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { bodyParserErrorHandler } from './common/body-parser-error.handler';
import { createBoundedServer } from './common/bounded-http-server';
import { setupOpenApi } from './common/openapi';
import { assignRequestId, noStore, refuseReservedKeys } from './common/request-hygiene';
import type { HttpSettings } from './config/configuration';
import { AppMetrics } from './metrics/app-metrics';
import { httpMetrics } from './metrics/http-metrics.middleware';

export const JSON_BODY_LIMIT = '64kb';

/** The HTTP server with the limits of `createBoundedServer`. */
class BoundedExpressAdapter extends ExpressAdapter {
  constructor(
    instance: express.Express,
    private readonly settings: HttpSettings,
  ) {
    super(instance);
  }

  override initHttpServer(options: NestApplicationOptions): void {
    if (options.httpsOptions) throw new Error('TLS is terminated in front of this service');
    this.setHttpServer(createBoundedServer(this.settings, this.getInstance()));
  }
}

/**
 * Express as the service wants it, set before Nest registers a route (the router reads its
 * options once): case-sensitive paths, so `/ADMIN/KEYS` is no route; no ETag, which Express
 * would derive from the body, a token set included; the client address from `TRUST_PROXY`.
 */
export function createHttpAdapter(settings: HttpSettings): ExpressAdapter {
  const instance = express();
  instance.set('case sensitive routing', true);
  instance.set('etag', false);
  instance.set('trust proxy', settings.trustProxy);
  instance.disable('x-powered-by');
  return new BoundedExpressAdapter(instance, settings);
}

/** Everything the server needs beyond the module graph; shared by main.ts and the e2e tests. */
export function configureApp(app: NestExpressApplication, settings: HttpSettings): NestExpressApplication {
  app.useLogger(app.get(Logger));
  app.use(assignRequestId);
  app.use(httpMetrics(app.get(AppMetrics)));
  app.use(helmet());
  app.use(noStore);
  // Compressed bodies are refused (415): a request body here is a few kilobytes of JSON.
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT, inflate: false });
  app.use(bodyParserErrorHandler);
  app.use(refuseReservedKeys);
  if (settings.apiDocs) setupOpenApi(app);
  return app;
}
