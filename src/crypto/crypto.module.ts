import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { EnvelopeService } from './envelope.service';
import { KeyRing } from './key-ring';

@Module({
  providers: [
    {
      provide: KeyRing,
      inject: [ConfigService],
      useFactory: (config: ConfigService): KeyRing =>
        KeyRing.fromSettings({
          primary: config.get<string>('WORKFLOWS_ARTIFACT_ENC_KEY'),
          previous: config.get<string>('WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS'),
          secondary: config.get<string>('JOBS_CRYPTO_SECONDARY_KEY'),
        }),
    },
    {
      provide: EnvelopeService,
      inject: [KeyRing],
      useFactory: (ring: KeyRing): EnvelopeService => new EnvelopeService(ring),
    },
  ],
  exports: [KeyRing, EnvelopeService],
})
export class CryptoModule {}
