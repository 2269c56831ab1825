import { isEndpointUrl } from './endpoint-url';

describe('isEndpointUrl', () => {
  it.each([
    'https://oauth2.googleapis.com/token',
    'https://api.notion.com/v1/oauth/token',
    'http://127.0.0.1:8080/token',
    'http://127.3.4.5/token',
    'http://[::1]:9000/token',
    'http://localhost:3000/token',
  ])('accepts %s', (url) => {
    expect(isEndpointUrl(url)).toBe(true);
  });

  it.each([
    'http://oauth2.googleapis.com/token',
    'http://10.0.0.1/token',
    'http://128.0.0.1/token',
    'http://[::2]/token',
    'http://localhost.example.com/token',
    'http://api.localhost/token',
    'ftp://127.0.0.1/token',
    'https://user:pass@example.com/token',
    'https://example.com/token#x',
    'not a url',
    '',
    42,
  ])('refuses %j', (url) => {
    expect(isEndpointUrl(url)).toBe(false);
  });
});
