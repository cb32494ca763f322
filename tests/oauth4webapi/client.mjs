// oauth4webapi against the demo over TLS: client credentials with private_key_jwt or
// tls_client_auth, then the token on a protected resource, with and without the client's
// certificate. Prints one JSON line for crates/authstar-cli/tests/oauth4webapi.rs.
//
//   node client.mjs ISSUER private_key_jwt CLIENT_ID SERVER_CA PKCS8_BASE64_FILE
//   node client.mjs ISSUER tls_client_auth CLIENT_ID SERVER_CA CERT_PEM KEY_PEM
import { readFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';
import { Agent, fetch } from 'undici';

const [issuer, mode, clientId, serverCa, first, second] = process.argv.slice(2);
const ca = readFileSync(serverCa);
const plain = new Agent({ connect: { ca } });
const mutual =
  mode === 'tls_client_auth'
    ? new Agent({ connect: { ca, cert: readFileSync(first), key: readFileSync(second) } })
    : plain;
// oauth4webapi sends every request through this fetch: undici's, over the chosen connection.
const over = (dispatcher) => ({
  [oauth.customFetch]: (url, options) => fetch(url, { ...options, dispatcher }),
});

const issuerUrl = new URL(issuer);
const as = await oauth.processDiscoveryResponse(
  issuerUrl,
  await oauth.discoveryRequest(issuerUrl, { ...over(plain), algorithm: 'oauth2' }),
);
const client = { client_id: clientId };
let authentication;
if (mode === 'private_key_jwt') {
  const der = Buffer.from(readFileSync(first, 'utf8').trim(), 'base64');
  const key = await crypto.subtle.importKey(
    'pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'],
  );
  authentication = oauth.PrivateKeyJwt(key);
} else {
  authentication = oauth.TlsClientAuth();
}

const tokens = await oauth.processClientCredentialsResponse(
  as,
  client,
  await oauth.clientCredentialsGrantRequest(
    as, client, authentication, new URLSearchParams({ scope: 'reports:read' }), over(mutual),
  ),
);

async function status(dispatcher) {
  try {
    const response = await oauth.protectedResourceRequest(
      tokens.access_token, 'GET', new URL('/me', issuer), new Headers(), null, over(dispatcher),
    );
    return response.status;
  } catch (error) {
    if (error instanceof oauth.WWWAuthenticateChallengeError) return error.response.status;
    throw error;
  }
}

const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url'));
console.log(JSON.stringify({
  methods: as.token_endpoint_auth_methods_supported,
  token_type: tokens.token_type,
  client_id: payload.client_id,
  bound: payload.cnf?.['x5t#S256'] ?? null,
  with_certificate: await status(mutual),
  without_certificate: await status(plain),
}));
