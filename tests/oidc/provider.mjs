// A real OpenID provider (oidc-provider, OpenID Certified) on a loopback port, for
// crates/authstar-jwt/tests/oidc_provider.rs.
//
//   node provider.mjs PORT KEYS_FILE [--rotate]
//
// Clients: `reports-job` (client_credentials) and `reports-api` (a resource server that may
// introspect). Resources: https://jwt.api.test gets RFC 9068 JWT access tokens (RS256),
// https://opaque.api.test opaque ones, https://other.api.test JWTs for another audience.
// KEYS_FILE holds the private signing keys: made on first start; `--rotate` puts a new key in
// front (the one that signs) and keeps the old one published. Prints "listening" when ready.
import fs from 'node:fs';
import { generateKeyPair, exportJWK } from 'jose';
import Provider, { errors } from 'oidc-provider';

const [port, keysFile, rotate] = process.argv.slice(2);

// The test reads the first line and may close the pipe: notices after that must not kill us.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

async function newKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `rsa-${Date.now()}`, alg: 'RS256', use: 'sig' };
}

let keys = fs.existsSync(keysFile) ? JSON.parse(fs.readFileSync(keysFile, 'utf8')) : [];
if (keys.length === 0 || rotate === '--rotate') {
  keys = [await newKey(), ...keys];
  fs.writeFileSync(keysFile, JSON.stringify(keys));
}

const resources = {
  'https://jwt.api.test': { format: 'jwt', scope: 'reports:read reports:export' },
  'https://opaque.api.test': { format: 'opaque', scope: 'reports:read' },
  'https://other.api.test': { format: 'jwt', scope: 'reports:read' },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'reports-job',
      client_secret: 'reports-job-secret-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'reports:read reports:export',
    },
    {
      client_id: 'reports-api',
      client_secret: 'reports-api-secret-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  jwks: { keys },
  scopes: ['openid', 'reports:read', 'reports:export'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://jwt.api.test',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const found = resources[resource];
        if (!found) throw new errors.InvalidTarget();
        const info = {
          scope: found.scope,
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: found.format,
        };
        if (found.format === 'jwt') info.jwt = { sign: { alg: 'RS256' } };
        return info;
      },
    },
  },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log('listening');
});
