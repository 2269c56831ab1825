import { randomBytes } from 'node:crypto';
import { ConfigModule } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { ConfigurationError } from '../config/configuration.error';
import { CryptoModule } from './crypto.module';
import { EnvelopeService } from './envelope.service';
import { KeyRing } from './key-ring';

const newKey = (): string => randomBytes(32).toString('base64');

async function compile(settings: Record<string, string>) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, skipProcessEnv: true, load: [() => settings] }),
      CryptoModule,
    ],
  }).compile();
  return { ring: moduleRef.get(KeyRing), envelopes: moduleRef.get(EnvelopeService) };
}

describe('CryptoModule', () => {
  it('builds the key ring from the three settings and hands it to the envelope service', async () => {
    const [primary, previous, secondary] = [newKey(), newKey(), newKey()];
    const { ring, envelopes } = await compile({
      WORKFLOWS_ARTIFACT_ENC_KEY: primary,
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: previous,
      JOBS_CRYPTO_SECONDARY_KEY: secondary,
    });
    expect(ring.primaryKeyId).toBe(KeyRing.fromSettings({ primary }).primaryKeyId);
    expect(ring.previousKeyIds()).toEqual(KeyRing.fromSettings({ previous, secondary }).keyIds());
    expect(envelopes.primaryKeyId).toBe(ring.primaryKeyId);
    const binding = { userId: 1, accountId: 1 };
    expect(envelopes.decryptJsonBlob(envelopes.encryptJsonBlob({ a: 1 }, binding), binding)).toEqual({ a: 1 });
  });

  it('runs without encryption when no key is configured', async () => {
    const { envelopes } = await compile({});
    expect(envelopes.encryptionEnabled).toBe(false);
  });

  it('stops start-up on a bad key, naming the setting', async () => {
    await expect(
      compile({ WORKFLOWS_ARTIFACT_ENC_KEY: newKey(), WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: 'short' }),
    ).rejects.toMatchObject({ variable: 'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS[1]' });
    await expect(compile({ WORKFLOWS_ARTIFACT_ENC_KEY: 'short' })).rejects.toBeInstanceOf(ConfigurationError);
  });
});
