import { registerAs } from '@nestjs/config';
import { validateEnvironment } from './env.validation';

export const authConfig = registerAs('auth', () => {
  const env = validateEnvironment(process.env);
  return {
    connectorsApiToken: env.CONNECTORS_API_TOKEN,
    adminApiToken: env.ADMIN_API_TOKEN,
    adminRateLimitPerMinute: env.ADMIN_RATE_LIMIT_PER_MINUTE,
  };
});
