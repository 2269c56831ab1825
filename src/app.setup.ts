import type { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { bodyParserErrorHandler } from './common/body-parser-error.handler';
import { setupOpenApi } from './common/openapi';

export const JSON_BODY_LIMIT = '64kb';

/** Everything the server needs beyond the module graph; shared by main.ts and the e2e tests. */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  app.useLogger(app.get(Logger));
  app.use(helmet());
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
  app.use(bodyParserErrorHandler);
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.enableShutdownHooks();
  setupOpenApi(app);
  return app;
}
