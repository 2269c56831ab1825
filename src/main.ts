import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { setupOpenApi } from './common/openapi';
import { ConfigurationError } from './config/configuration.error';
import { applyDevCredentials } from './config/dev-credentials';
import { validateEnvironment } from './config/env.validation';

async function bootstrap(): Promise<void> {
  const credentialsFile = applyDevCredentials(process.env);
  const env = validateEnvironment(process.env);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), {
    bufferLogs: true,
    bodyParser: false,
  });
  configureApp(app);
  setupOpenApi(app);
  const logger = app.get(Logger);
  if (credentialsFile) logger.log({ file: credentialsFile }, 'development API tokens are in this file');
  logger.log({ database: env.DATABASE_URL ? 'postgresql' : 'embedded-pglite' }, 'database in use');
  await app.listen(env.PORT);
  logger.log({ port: env.PORT }, 'listening');
}

bootstrap().catch((error: unknown) => {
  if (error instanceof ConfigurationError) {
    process.stderr.write(`Configuration error: ${error.message}\n`);
    process.exit(2);
  }
  const type = error instanceof Error ? error.constructor.name : typeof error;
  process.stderr.write(`Start-up failed: ${type}\n`);
  process.exit(1);
});
