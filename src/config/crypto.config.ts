import { registerAs } from '@nestjs/config';
import { keyRingFor, validateEnvironment } from './env.validation';

/** The key ring decoded when the environment was validated; CryptoModule's EnvelopeService uses it. */
export const cryptoConfig = registerAs('crypto', () => ({
  ring: keyRingFor(validateEnvironment(process.env)),
}));
