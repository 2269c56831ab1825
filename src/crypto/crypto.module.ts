import { Module } from '@nestjs/common';
import { EnvelopeService } from './envelope.service';
import { KeyRing } from './key-ring';

/**
 * Seals and opens envelopes with the key ring, which the keys module provides
 * (decoded once from the settings, or loaded from the key registry): this module knows no setting and no environment variable.
 */
@Module({
  providers: [
    {
      provide: EnvelopeService,
      inject: [KeyRing],
      useFactory: (ring: KeyRing): EnvelopeService => new EnvelopeService(ring),
    },
  ],
  exports: [EnvelopeService],
})
export class CryptoModule {}
