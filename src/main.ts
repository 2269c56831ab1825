import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp, createHttpAdapter } from './app.setup';
import { stopOnSignals } from './common/graceful-shutdown';
import { httpSettings } from './config/configuration';
import { ConfigurationError } from './config/configuration.error';
import { applyDevCredentials } from './config/dev-credentials';
import { loadEnvFile } from './config/env-file';
import { validateEnvironment } from './config/env.validation';
import { describeStartupFailure } from './database/startup-failure';

async function bootstrap(): Promise<void> {
  loadEnvFile();
  const credentialsFile = applyDevCredentials(process.env);
  const env = validateEnvironment(process.env);
  const http = httpSettings(env);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), createHttpAdapter(http), {
    // Until pino takes over, nothing is printed: a failure is reported below, in one line.
    logger: false,
    bufferLogs: true,
    abortOnError: false,
    bodyParser: false,
  });
  configureApp(app, http);
  const logger = new Logger('Bootstrap');
  if (credentialsFile) logger.log(`development API tokens are in ${credentialsFile}`);
  logger.log(
    env.DATABASE_URL ? 'database: PostgreSQL (DATABASE_URL)' : `database: embedded PGlite in ${env.DATA_DIR}`,
  );
  stopOnSignals(app, env.SHUTDOWN_TIMEOUT_SECONDS * 1000, new Logger('Shutdown'));
  await app.listen(env.PORT);
  logger.log(`listening on port ${env.PORT}`);
}

bootstrap().catch((error: unknown) => {
  if (error instanceof ConfigurationError) {
    process.stderr.write(`Configuration error: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`Start-up failed: ${describeStartupFailure(error, process.env.DATABASE_URL)}\n`);
  process.exit(1);
});
