import { bodyObjectOf, InvalidTokenResponse, jsonNestingWithin, tokenResponseOf } from './token-response';

describe('token responses', () => {
  it('parses JSON and form-encoded bodies alike, and refuses a member sent twice in a form', () => {
    expect(bodyObjectOf('{"access_token":"a"}', 'application/json')).toEqual({ access_token: 'a' });
    expect(
      bodyObjectOf('access_token=a%2Fb&expires_in=60', 'Application/X-WWW-Form-Urlencoded; charset=utf-8'),
    ).toEqual({
      access_token: 'a/b',
      expires_in: '60',
    });
    expect(
      bodyObjectOf('access_token=a&access_token=b', 'application/x-www-form-urlencoded'),
    ).toBeUndefined();
  });

  it('refuses reserved keys at any depth and nesting deeper than stored JSON may', () => {
    expect(bodyObjectOf('{"a":{"b":[{"__proto__":1}]}}', 'application/json')).toBeUndefined();
    expect(bodyObjectOf('access_token=a&constructor=x', 'application/x-www-form-urlencoded')).toBeUndefined();
    expect(jsonNestingWithin(`${'['.repeat(32)}${']'.repeat(32)}`)).toBe(true);
    expect(jsonNestingWithin(`${'['.repeat(33)}${']'.repeat(33)}`)).toBe(false);
    expect(jsonNestingWithin(`{"a":"${'['.repeat(100)}"}`)).toBe(true);
    expect(jsonNestingWithin(`{"a":"\\"${'{'.repeat(100)}"}`)).toBe(true);
  });

  it('normalizes numbers, token type and empty refresh tokens, and keeps extra members', () => {
    expect(
      tokenResponseOf({
        access_token: 'a',
        expires_in: '3599',
        refresh_token: '',
        token_type: 'BEARER',
        instance_url: 'u',
      }),
    ).toEqual({ access_token: 'a', expires_in: 3599, token_type: 'Bearer', instance_url: 'u' });
    expect(tokenResponseOf({ access_token: 'a', refresh_token: null })).toEqual({
      access_token: 'a',
      token_type: 'Bearer',
    });
    expect(tokenResponseOf({ access_token: 'a', token_type: 'mac' }).token_type).toBe('mac');
  });

  it('refuses a missing access token and control characters in the header-bound members', () => {
    for (const body of [
      {},
      { access_token: '' },
      { access_token: 1 },
      { access_token: 'a\r\nb' },
      { access_token: 'a', refresh_token: 'r\t' },
      { access_token: 'a', token_type: 'Bearer\u007f' },
    ])
      expect(() => tokenResponseOf(body)).toThrow(InvalidTokenResponse);
  });
});
