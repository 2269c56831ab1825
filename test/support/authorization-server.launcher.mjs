// A real OAuth 2.0 authorization server (oidc-provider 8) for the end-to-end tests, run as a
// process of its own: oidc-provider is ESM, which Jest's CommonJS transform does not load.
//
// Input (environment): AS_CLIENTS, a JSON array of {client_id, client_secret, token_endpoint_auth_method,
// redirect_uris?}.
// Output: one JSON line on stdout once it listens: {"issuer": "http://127.0.0.1:<port>"}.
// The authorization endpoint is the real one: its own login and consent pages (devInteractions:
// any login with any password; a login with an @ is the account's email, else <login>@example.com),
// PKCE S256 required of every client, `iss` in every authorization response (RFC 9207).
// Test routes under /__test (loopback only, never part of a real provider):
//   POST /__test/grants {clientId, accountId}  -> {refreshToken} for a new grant
//   POST /__test/grants {clientId, accountId, count} -> {refreshTokens}: `count` grants, one each,
//     for accounts `${accountId}-1`... (seeding many in one request)
//   GET  /__test/stats                         -> {tokenRequests, codeExchanges, lastRefreshToken, held}
//   POST /__test/behaviour {holdMs, failStatus, holdUntilReleased, holdRevocations} -> how the token
//     endpoint answers from now on (holdMs delays the answer, a failure as well as a token issued;
//     holdUntilReleased keeps it until POST /__test/release, `held` counts those waiting);
//     holdRevocations keeps each revocation request, before it is handled, until the release
//   POST /__test/release                       -> lets every held answer go
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import Provider from 'oidc-provider';

const clients = JSON.parse(process.env.AS_CLIENTS ?? '[]').map((client) => ({
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback'],
  ...client,
}));

const behaviour = { holdMs: 0, failStatus: 0, holdUntilReleased: false, holdRevocations: false };
const stats = { tokenRequests: 0, codeExchanges: 0, lastRefreshToken: null, held: 0 };
let releases = [];

async function hold() {
  if (behaviour.holdMs) await delay(behaviour.holdMs);
  if (behaviour.holdUntilReleased) await holdUntilReleased();
}

async function holdUntilReleased() {
  stats.held += 1;
  await new Promise((resolve) => releases.push(resolve));
  stats.held -= 1;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      try {
        resolve(body ? JSON.parse(body) : {});
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}

const server = createServer();
// The test's fetch keeps connections for reuse; a server closing an idle one just as the test
// sends on it answers "other side closed" on a loaded machine. Idle connections stay open.
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients,
    findAccount: (_ctx, accountId) => ({
      accountId,
      claims: () => ({
        sub: accountId,
        email: accountId.includes('@') ? accountId : `${accountId}@example.com`,
        email_verified: true,
        name: `User ${accountId}`,
      }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'offline_access', 'files.read'],
    pkce: { methods: ['S256'], required: () => true },
    rotateRefreshToken: true,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    ttl: { AccessToken: 3600, RefreshToken: 14 * 24 * 3600, Grant: 14 * 24 * 3600 },
  });

  // Counted and, on demand, held or failed before oidc-provider answers; a hold waits after the
  // token was issued (the refresh token is spent), which is what a crash mid-refresh looks like.
  provider.use(async (ctx, next) => {
    if (ctx.path === '/token/revocation' && behaviour.holdRevocations) await holdUntilReleased();
    if (ctx.path !== '/token') return next();
    stats.tokenRequests += 1;
    if (behaviour.failStatus) {
      await hold();
      ctx.status = behaviour.failStatus;
      ctx.body = { error: 'temporarily_unavailable' };
      return undefined;
    }
    await next();
    await hold();
    return undefined;
  });

  // Every authorization_code request reaching the grant handler, answered or refused.
  const countExchange = (ctx) => {
    if (ctx.oidc?.params?.grant_type === 'authorization_code') stats.codeExchanges += 1;
  };
  provider.on('grant.success', countExchange);
  provider.on('grant.error', countExchange);
  provider.on('refresh_token.saved', (token) => {
    stats.lastRefreshToken = token.jti;
  });

  async function mint({ clientId, accountId }) {
    const client = await provider.Client.find(clientId);
    const grant = new provider.Grant({ clientId, accountId });
    grant.addOIDCScope('offline_access files.read');
    const grantId = await grant.save();
    const refreshToken = new provider.RefreshToken({
      client,
      accountId,
      grantId,
      gty: 'authorization_code',
      scope: 'offline_access files.read',
    });
    return { refreshToken: await refreshToken.save() };
  }

  async function testRoute(req, res) {
    const reply = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'POST' && req.url === '/__test/grants') {
      const { clientId, accountId, count } = await readJson(req);
      if (count === undefined) return reply(200, await mint({ clientId, accountId }));
      const refreshTokens = [];
      for (let index = 1; index <= count; index += 1)
        refreshTokens.push((await mint({ clientId, accountId: `${accountId}-${index}` })).refreshToken);
      return reply(200, { refreshTokens });
    }
    if (req.method === 'GET' && req.url === '/__test/stats') return reply(200, stats);
    if (req.method === 'POST' && req.url === '/__test/behaviour') {
      const {
        holdMs = 0,
        failStatus = 0,
        holdUntilReleased = false,
        holdRevocations = false,
      } = await readJson(req);
      Object.assign(behaviour, { holdMs, failStatus, holdUntilReleased, holdRevocations });
      return reply(200, behaviour);
    }
    if (req.method === 'POST' && req.url === '/__test/release') {
      const held = releases;
      releases = [];
      held.forEach((release) => release());
      return reply(200, { released: held.length });
    }
    return reply(404, { error: 'not_found' });
  }

  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (!req.url.startsWith('/__test/')) return callback(req, res);
    testRoute(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
