import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
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
  const logger = new Logger('Bootstrap');
  if (credentialsFile) logger.log(`development API tokens are in ${credentialsFile}`);
  logger.log(
    env.DATABASE_URL ? 'database: PostgreSQL (DATABASE_URL)' : `database: embedded PGlite in ${env.DATA_DIR}`,
  );
  await app.listen(env.PORT);
  logger.log(`listening on port ${env.PORT}`);
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
