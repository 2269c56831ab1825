import { registerAs } from '@nestjs/config';
import { validateEnvironment } from './env.validation';

export const connectorsConfig = registerAs('connectors', () => {
  const env = validateEnvironment(process.env);
  return { requireEncryption: env.CONNECTORS_REQUIRE_TOKEN_ENCRYPTION };
});
