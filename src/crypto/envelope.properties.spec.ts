import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { EnvelopeError } from './envelope.errors';
import { EnvelopeService, type AccountBinding as EnvelopeBinding } from './envelope.service';
import { KeyRing } from './key-ring';

const newKey = (): string => randomBytes(32).toString('base64');
const service = new EnvelopeService(KeyRing.fromSettings({ primary: newKey(), previous: newKey() }));

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const text = fc.oneof(
  fc.string({ maxLength: 100 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.string({ unit: anyCodeUnit, maxLength: 100 }),
  fc.string({ minLength: 4000, maxLength: 20000 }),
);
const tokenSet = fc.record(
  {
    access_token: text,
    refresh_token: fc.option(text),
    token_type: fc.constantFrom('Bearer', 'bearer', 'MAC'),
    expires_in: fc.integer({ min: 0, max: 1e7 }),
    expires_at: fc.integer({ min: 0, max: 2 ** 40 }),
    scope: fc.option(fc.string({ unit: 'binary' })),
    extra: fc.dictionary(fc.string({ unit: 'binary', maxLength: 10 }), fc.jsonValue({ maxDepth: 3 })),
  },
  { requiredKeys: ['access_token', 'token_type'] },
);
const id = fc.oneof(fc.nat(1000), fc.integer(), fc.maxSafeInteger());
const binding: fc.Arbitrary<EnvelopeBinding> = fc.record({ userId: id, accountId: id });
/** Another row: often one that differs from `at` in a single id, the copy an attacker would try. */
const otherBinding = (at: EnvelopeBinding): fc.Arbitrary<EnvelopeBinding> =>
  fc.oneof(
    binding,
    id.map((userId) => ({ ...at, userId })),
    id.map((accountId) => ({ ...at, accountId })),
    fc.constant({ userId: at.accountId, accountId: at.userId }),
  );

type Outcome = { opened: unknown } | { code: string };

function outcomeOf(stored: string, at: EnvelopeBinding): Outcome {
  try {
    return { opened: service.decryptJsonBlob(stored, at) };
  } catch (error) {
    if (error instanceof EnvelopeError) {
      return { code: error.code };
    }
    throw error;
  }
}

const FIELDS = ['_enc', 'kid', 'nonce', 'ct', 'tag'] as const;
const DECODED_FIELDS = ['nonce', 'ct', 'tag'] as const;

/** Random damage to a genuine envelope; the original text is never a possible result. */
const corruption = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    field: fc.constantFrom(...DECODED_FIELDS),
    at: fc.nat(),
    bit: fc.nat(7),
  }),
  fc.record({
    kind: fc.constant('replace' as const),
    field: fc.constantFrom(...FIELDS),
    value: fc.jsonValue(),
  }),
  fc.record({ kind: fc.constant('remove' as const), field: fc.constantFrom(...FIELDS) }),
  fc.record({
    kind: fc.constant('char' as const),
    at: fc.nat(),
    char: fc.string({ minLength: 1, maxLength: 1 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function corrupt(
  stored: string,
  damage: typeof corruption extends fc.Arbitrary<infer T> ? T : never,
): string {
  const envelope = JSON.parse(stored) as Record<string, unknown>;
  switch (damage.kind) {
    case 'flip': {
      const bytes = Buffer.from(envelope[damage.field] as string, 'base64');
      bytes[damage.at % bytes.length] ^= 1 << damage.bit;
      return JSON.stringify({ ...envelope, [damage.field]: bytes.toString('base64') });
    }
    case 'replace':
      return JSON.stringify({ ...envelope, [damage.field]: damage.value });
    case 'remove':
      return JSON.stringify({ ...envelope, [damage.field]: undefined });
    case 'char': {
      const at = damage.at % stored.length;
      return stored.slice(0, at) + damage.char + stored.slice(at + 1);
    }
    case 'truncate':
      return stored.slice(0, damage.at % stored.length);
  }
}

describe('EnvelopeService properties', () => {
  it('round-trips any token set, including unicode, lone surrogates, big strings and extra fields', () => {
    fc.assert(
      fc.property(tokenSet, binding, (value, at) => {
        const stored = service.encryptJsonBlob(value, at);
        expect(service.inspect(stored)).toEqual({ format: 'v3', kid: service.primaryKeyId });
        expect(service.decryptJsonBlob(stored, at)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 1000 },
    );
  });

  it('never opens a corrupted envelope: every corruption ends in a typed envelope error', () => {
    fc.assert(
      fc.property(tokenSet, binding, corruption, (value, at, damage) => {
        const stored = service.encryptJsonBlob(value, at);
        const damaged = corrupt(stored, damage);
        fc.pre(damaged !== stored);
        expect(outcomeOf(damaged, at)).toEqual({ code: expect.stringMatching(/^ENVELOPE_/) as string });
      }),
      { numRuns: 2000 },
    );
  });

  it('never opens a genuine envelope under another binding', () => {
    fc.assert(
      fc.property(
        tokenSet,
        binding.chain((at) => fc.tuple(fc.constant(at), otherBinding(at))),
        (value, [at, other]) => {
          fc.pre(at.userId !== other.userId || at.accountId !== other.accountId);
          const stored = service.encryptJsonBlob(value, at);
          expect(outcomeOf(stored, other)).toEqual({ code: 'ENVELOPE_AUTH_FAILED' });
        },
      ),
      { numRuns: 500 },
    );
  });
});
