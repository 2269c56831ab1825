import { randomBytes } from 'node:crypto';
import { Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CryptoModule } from './crypto.module';
import { EnvelopeService } from './envelope.service';
import { KeyRing } from './key-ring';

const newKey = (): string => randomBytes(32).toString('base64');

/** The application's configuration provides the ring; here a module stands in for it. */
async function compile(ring: KeyRing) {
  @Global()
  @Module({ providers: [{ provide: KeyRing, useValue: ring }], exports: [KeyRing] })
  class RingModule {}
  const moduleRef = await Test.createTestingModule({ imports: [RingModule, CryptoModule] }).compile();
  return moduleRef.get(EnvelopeService);
}

describe('CryptoModule', () => {
  it('hands the ring it is given to the envelope service', async () => {
    const ring = KeyRing.fromSettings({ primary: newKey(), previous: newKey() });
    const envelopes = await compile(ring);
    expect(envelopes.primaryKeyId).toBe(ring.primaryKeyId);
    const binding = { userId: 1, accountId: 1 };
    expect(envelopes.decryptJsonBlob(envelopes.encryptJsonBlob({ a: 1 }, binding), binding)).toEqual({
      a: 1,
    });
  });

  it('runs without encryption when the ring has no primary key', async () => {
    const envelopes = await compile(KeyRing.fromSettings({}));
    expect(envelopes.encryptionEnabled).toBe(false);
  });
});
