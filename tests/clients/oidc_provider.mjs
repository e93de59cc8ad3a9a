// A real OpenID Connect provider for the sign-in tests: `oidc-provider` (npm, pinned in
// package-lock.json) on 127.0.0.1:PORT with its development login form, which accepts any
// login name as the account id. Configured from the environment:
//   OIDC_PORT     the port (the issuer is http://127.0.0.1:PORT)
//   OIDC_JWKS     the signing keys, a JWKS with private parts (the tests make them, so two
//                 providers can share a key and differ only by issuer)
//   OIDC_CLIENTS  a JSON list of {client_id, client_secret, redirect_uris, id_token_ttl}
// Prints "ready" when it listens.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS);
const ttls = new Map(clients.map((c) => [c.client_id, c.id_token_ttl || 3600]));

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  })),
  jwks: JSON.parse(process.env.OIDC_JWKS),
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => false },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id };
      },
    };
  },
  ttl: {
    IdToken: (ctx, token, client) => ttls.get(client.clientId) || 3600,
  },
});

provider.listen(port, '127.0.0.1', () => console.log('ready'));
