import { mergeRefreshed, validFor } from './token-set';

describe('mergeRefreshed', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const stored = { access_token: 'old', refresh_token: 'kept', scope: 'drive', expires_at: 1 };

  it('keeps the stored refresh token and scope when the response has none', () => {
    expect(
      mergeRefreshed(stored, { access_token: 'new', expires_in: 3600, token_type: 'Bearer' }, now),
    ).toEqual({
      access_token: 'new',
      refresh_token: 'kept',
      scope: 'drive',
      token_type: 'Bearer',
      expires_in: 3600,
      expires_at: now.getTime() / 1000 + 3600,
    });
  });

  it('takes a rotated refresh token, a narrower scope and the provider’s extra fields', () => {
    const merged = mergeRefreshed(
      stored,
      { access_token: 'new', refresh_token: 'rotated', scope: 'drive.readonly', id_token: 'x' },
      now,
    );
    expect(merged).toMatchObject({ refresh_token: 'rotated', scope: 'drive.readonly', id_token: 'x' });
    expect(merged.expires_at).toBeUndefined();
  });
});

describe('validFor', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const at = now / 1000;

  it('tells whether the access token stays valid that many seconds', () => {
    expect(validFor({ access_token: 'a', expires_at: at + 120 }, 60, now)).toBe(true);
    expect(validFor({ access_token: 'a', expires_at: at + 30 }, 60, now)).toBe(false);
    expect(validFor({ access_token: 'a', expires_at: at - 1 }, 0, now)).toBe(false);
  });

  it('takes a token without a known expiry as valid', () => {
    expect(validFor({ access_token: 'a' }, 3600, now)).toBe(true);
  });
});
