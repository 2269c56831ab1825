import { registerAs } from '@nestjs/config';
import { availableParallelism } from 'node:os';
import { validateEnvironment } from './env.validation';

export const rotationConfig = registerAs('rotation', () => {
  const env = validateEnvironment(process.env);
  return {
    leaseSeconds: env.ROTATION_LEASE_SECONDS,
    batchSize: env.ROTATION_BATCH_SIZE,
    pollSeconds: env.ROTATION_POLL_SECONDS,
    workerEnabled: env.ROTATION_WORKER_ENABLED,
    // Threads pay off only with a core to spare for them; one is left for the job's own I/O.
    resealThreads: env.ROTATION_RESEAL_THREADS ?? Math.min(2, availableParallelism() - 1),
  };
});
