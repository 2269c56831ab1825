import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  auth: 'client_secret_basic' | 'client_secret_post';
  /** Where the authorization endpoint may send a browser back; the test default otherwise. */
  redirectUris?: string[];
}

export interface AuthorizationServerStats {
  tokenRequests: number;
  /** authorization_code requests that reached the grant handler, answered or refused. */
  codeExchanges: number;
  /** The refresh token issued last, to introspect one the test never saw. */
  lastRefreshToken: string | null;
  /** Token responses kept by `holdUntilReleased`. */
  held: number;
}

export function newClient(auth: OAuthClient['auth'] = 'client_secret_basic'): OAuthClient {
  return {
    clientId: `client-${randomBytes(4).toString('hex')}`,
    clientSecret: `cs_${randomBytes(24).toString('base64url')}`,
    auth,
  };
}

export interface Behaviour {
  /** Keep each token response this long (after the token was issued, or before the failure). */
  holdMs?: number;
  /** Answer every token request with this status instead. */
  failStatus?: number;
  /** Keep each token response until `release()` (after `holdMs`, if both are given). */
  holdUntilReleased?: boolean;
  /** Keep each revocation request, before it is handled, until `release()`. */
  holdRevocations?: boolean;
}

/**
 * oidc-provider 8 in a process of its own (test/support/authorization-server.launcher.mjs), with the
 * given clients: refresh tokens rotate on every use, and a reused one revokes its grant.
 */
export class AuthorizationServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly issuer: string,
  ) {}

  static async start(clients: OAuthClient[]): Promise<AuthorizationServer> {
    const child = spawn(process.execPath, [join(__dirname, 'authorization-server.launcher.mjs')], {
      env: {
        PATH: process.env.PATH,
        AS_CLIENTS: JSON.stringify(
          clients.map((client) => ({
            client_id: client.clientId,
            client_secret: client.clientSecret,
            token_endpoint_auth_method: client.auth,
            ...(client.redirectUris ? { redirect_uris: client.redirectUris } : {}),
          })),
        ),
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const issuer = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.once('line', (line) => resolve((JSON.parse(line) as { issuer: string }).issuer));
      child.once('exit', (code) => reject(new Error(`the authorization server exited (${code})`)));
    });
    return new AuthorizationServer(child, issuer);
  }

  get tokenUrl(): string {
    return `${this.issuer}/token`;
  }

  /** A new grant of `client` and its first refresh token. */
  async mint(client: OAuthClient, accountId = 'user-1'): Promise<string> {
    const answer = await this.json('/__test/grants', { clientId: client.clientId, accountId });
    return (answer as { refreshToken: string }).refreshToken;
  }

  /** `count` new grants of `client` in one request, one per account, and their first refresh tokens. */
  async mintMany(client: OAuthClient, count: number, accountId = 'user'): Promise<string[]> {
    const answer = await this.json('/__test/grants', { clientId: client.clientId, accountId, count });
    return (answer as { refreshTokens: string[] }).refreshTokens;
  }

  async tokenRequests(): Promise<number> {
    return (await this.stats()).tokenRequests;
  }

  /** Token responses kept by `holdUntilReleased`, waiting for `release()`. */
  async held(): Promise<number> {
    return (await this.stats()).held;
  }

  /** Lets every held token response go. */
  async release(): Promise<void> {
    await this.json('/__test/release', {});
  }

  async stats(): Promise<AuthorizationServerStats> {
    const answer = await fetch(`${this.issuer}/__test/stats`);
    return (await answer.json()) as AuthorizationServerStats;
  }

  async behave(behaviour: Behaviour): Promise<void> {
    await this.json('/__test/behaviour', behaviour);
  }

  /** RFC 7662 introspection, as `client`. */
  async introspect(client: OAuthClient, token: string): Promise<{ active: boolean }> {
    const answer = await fetch(`${this.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return (await answer.json()) as { active: boolean };
  }

  /** RFC 7009 revocation, as `client`: revoking a refresh token revokes its grant. */
  async revoke(client: OAuthClient, token: string): Promise<void> {
    const answer = await fetch(`${this.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'refresh_token' }),
    });
    if (!answer.ok) throw new Error(`revocation answered ${answer.status}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  private async json(path: string, body: unknown): Promise<unknown> {
    const answer = await fetch(`${this.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!answer.ok) throw new Error(`${path} answered ${answer.status}`);
    return answer.json();
  }
}

function basic(client: OAuthClient): string {
  return `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`;
}
