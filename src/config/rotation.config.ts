import { registerAs } from '@nestjs/config';
import { validateEnvironment } from './env.validation';

export const rotationConfig = registerAs('rotation', () => {
  const env = validateEnvironment(process.env);
  return {
    leaseSeconds: env.ROTATION_LEASE_SECONDS,
    batchSize: env.ROTATION_BATCH_SIZE,
    pollSeconds: env.ROTATION_POLL_SECONDS,
    workerEnabled: env.ROTATION_WORKER_ENABLED,
  };
});
