import { endpointTarget, isEndpointUrl, type AddressLookup } from './endpoint-url';

describe('isEndpointUrl', () => {
  it.each([
    'https://oauth2.googleapis.com/token',
    'https://api.notion.com/v1/oauth/token',
    'http://127.0.0.1:8080/token',
    'http://127.3.4.5/token',
    'http://[::1]:9000/token',
    'http://localhost:3000/token',
    'http://api.localhost/token',
  ])('accepts the shape of %s', (url) => {
    expect(isEndpointUrl(url)).toBe(true);
  });

  it.each([
    'http://oauth2.googleapis.com/token',
    'http://10.0.0.1/token',
    'http://128.0.0.1/token',
    'http://[::2]/token',
    'http://localhost.example.com/token',
    'http://localhost.evil/token',
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

describe('endpointTarget', () => {
  const resolvesTo =
    (...addresses: string[]): AddressLookup =>
    async () =>
      addresses;
  const unresolved: AddressLookup = async () => {
    throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
  };
  const unused: AddressLookup = async () => {
    throw new Error('no lookup expected');
  };

  it('leaves https, loopback addresses and localhost as they are, without a lookup', async () => {
    for (const url of [
      'https://idp.example.com/token',
      'https://idp.localhost/token',
      'http://127.0.0.1:8080/token',
      'http://localhost:3000/token',
    ])
      await expect(endpointTarget(url, unused)).resolves.toBe(url);
  });

  it('sends plain http for a name under .localhost to the loopback address it resolves to', async () => {
    await expect(endpointTarget('http://idp.localhost:8080/t?x=1', resolvesTo('127.0.0.1'))).resolves.toBe(
      'http://127.0.0.1:8080/t?x=1',
    );
    await expect(endpointTarget('http://idp.localhost/t', resolvesTo('::1', '127.0.0.2'))).resolves.toBe(
      'http://[::1]/t',
    );
  });

  it('refuses a name under .localhost that resolves elsewhere, partly elsewhere, or not at all', async () => {
    for (const lookup of [
      resolvesTo('10.0.0.7'),
      resolvesTo('127.0.0.1', '93.184.216.34'),
      resolvesTo(),
      unresolved,
    ])
      await expect(endpointTarget('http://idp.localhost/token', lookup)).resolves.toBeUndefined();
  });

  it('refuses what breaks the rule before any lookup', async () => {
    await expect(endpointTarget('http://idp.example.com/token', unused)).resolves.toBeUndefined();
  });
});
