// The reference OpenID Provider of benches/compare.sh: panva's oidc-provider (pinned in
// package.json) with its in-memory store, the fastest setup it offers, configured like
// Etupass's bench clients:
//   bench      confidential, authorization_code (PKCE S256) and client_credentials, opaque
//              access tokens; first-party (no consent page: a grant is made on sign-in)
//   bench-jwt  client_credentials with JWT access tokens (RFC 9068), RS256, 2048-bit key
// Its development sign-in form takes any login; the peer checks no password, so Etupass's
// side of the flow runs with argon2 made cheap (64 KiB, one pass).
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const secret = process.env.CLIENT_SECRET;
const redirect = process.env.REDIRECT_URI;
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'bench-rs256' };
const resource = 'urn:etupass:bench';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench',
      client_secret: secret,
      redirect_uris: [redirect],
      grant_types: ['authorization_code', 'client_credentials'],
      response_types: ['code'],
      scope: 'openid profile email',
    },
    {
      client_id: 'bench-jwt',
      client_secret: secret,
      redirect_uris: [redirect],
      grant_types: ['client_credentials'],
      response_types: [],
    },
  ],
  jwks: { keys: [signing] },
  cookies: { keys: ['etupass-bench-cookie-key-0123456789'] },
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client) => (client.clientId === 'bench-jwt' ? resource : undefined),
      useGrantedResource: () => false,
      getResourceServerInfo: () => ({
        scope: 'api',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  pkce: { required: () => true },
  ttl: {
    AccessToken: 3600, AuthorizationCode: 60, ClientCredentials: 3600,
    Grant: 36000, IdToken: 3600, Interaction: 600, Session: 36000,
  },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: 'Bench Load', email: 'bench@univ.example' }),
  }),
  // First-party, as Etupass's bench client: the grant is made without a consent page.
  async loadExistingGrant(ctx) {
    const { client, session, provider: op } = ctx.oidc;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (grantId) return op.Grant.find(grantId);
    if (!session.accountId) return undefined;
    const grant = new op.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    session.grantIdFor(client.clientId, grant.jti);
    return grant;
  },
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
