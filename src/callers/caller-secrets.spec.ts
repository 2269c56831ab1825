import { createHash } from 'node:crypto';
import { digestOf, digestsEqual, newCallerSecret, prefixOf } from './caller-secrets';

describe('caller secrets', () => {
  it('makes 256-bit secrets named by a non-secret prefix, stored as their SHA-256 digest', () => {
    const { secret, prefix, digest } = newCallerSecret();
    expect(secret).toMatch(/^ccs_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret.slice(13), 'base64url')).toHaveLength(32);
    expect(prefixOf(secret)).toBe(prefix);
    expect(digest).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(newCallerSecret().secret).not.toBe(secret);
  });

  it('finds no prefix in text of another shape', () => {
    const { secret } = newCallerSecret();
    for (const text of [`${secret}x`, secret.slice(0, -1), secret.toUpperCase(), `Bearer ${secret}`, 'ccs__'])
      expect(prefixOf(text)).toBeUndefined();
  });

  it('compares digests, equal or not, without throwing on a malformed one', () => {
    const { secret, digest } = newCallerSecret();
    expect(digestsEqual(digestOf(secret), digest)).toBe(true);
    const other = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(digestsEqual(digestOf(other), digest)).toBe(false);
    expect(digestsEqual('abc', digest)).toBe(false);
  });
});
