import { randomSecret } from './support/safety-fixtures';
import { basicCredential, SecretRegistry } from './support/safety-secrets';

/** The leak check itself: what the safety suites rely on to fail when a secret escapes. */
describe('the leak check', () => {
  it("reports account B's token in a token read of account A, though both carry the same label", () => {
    const secrets = new SecretRegistry();
    const ofA = randomSecret('ya29.');
    const ofB = randomSecret('ya29.');
    secrets.add('access_token', ofA);
    secrets.add('access_token', ofB);
    const readOfA = JSON.stringify({ access_token: ofA, leaked: ofB });

    expect(secrets.find(readOfA, 'token read of A', [ofA])).toEqual([
      { secret: 'access_token', where: 'token read of A', form: 'raw' },
    ]);
    expect(secrets.find(JSON.stringify({ access_token: ofA }), 'token read of A', [ofA])).toEqual([]);
  });

  it('finds a secret printed as base64, base64url or hex', () => {
    const secrets = new SecretRegistry();
    const token = randomSecret('1//');
    secrets.add('refresh token', token);
    for (const encoding of ['base64', 'base64url', 'hex'] as const) {
      const printed = `value=${Buffer.from(token).toString(encoding)};`;
      expect({ encoding, leaks: secrets.find(printed, encoding).length }).toEqual({ encoding, leaks: 1 });
    }
  });

  it('finds the Basic credential a client_secret_basic request carries', () => {
    const secrets = new SecretRegistry();
    const clientId = 'client one';
    const clientSecret = randomSecret('cs_');
    secrets.addClientCredentials('provider', clientId, clientSecret);
    for (const credential of basicCredential(clientId, clientSecret)) {
      const leaks = secrets.find(`authorization: Basic ${credential}`, 'a log line');
      expect(leaks).toContainEqual({ secret: 'provider Basic credential', where: 'a log line', form: 'raw' });
    }
  });
});
