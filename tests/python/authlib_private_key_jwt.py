"""Python's authlib against the demo's token endpoint with `private_key_jwt` (RFC 7523 §2.2).

Usage: authlib_private_key_jwt.py BASE_URL CLIENT_ID KEY_PEM
The client's ES256 private key is in KEY_PEM; its public key is registered. Gets a token with a
FAPI 2.0-shaped assertion (aud = the issuer, a short exp) and uses it; then checks that a
tampered, expired, replayed or wrongly addressed assertion is refused with invalid_client, and
that authlib's own defaults (aud = the token endpoint URL, exp an hour ahead) are refused too.
Exits non-zero on any failure.
"""

import sys
import time

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc.jwk import ECKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Fapi2PrivateKeyJWT(PrivateKeyJWT):
    """authlib's PrivateKeyJWT with FAPI 2.0 claims: aud is the issuer, exp a minute ahead."""

    def __init__(self, token_endpoint, issuer):
        super().__init__(token_endpoint, alg="ES256")
        self.issuer = issuer

    def sign(self, auth, token_endpoint):
        now = int(time.time())
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            claims={"aud": self.issuer},
            issued_at=now,
            expires_at=now + 60,
        )


def post_assertion(token_url, assertion):
    return httpx.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def refused(response, what):
    assert response.status_code == 401, (what, response.status_code, response.text)
    assert response.json()["error"] == "invalid_client", (what, response.text)


def main() -> int:
    base, client_id, pem_path = sys.argv[1], sys.argv[2], sys.argv[3]
    key = ECKey.import_key(open(pem_path).read())
    metadata = httpx.get(base + "/.well-known/oauth-authorization-server").json()
    issuer, token_url = metadata["issuer"], metadata["token_endpoint"]
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"], metadata
    assert "ES256" in metadata["token_endpoint_auth_signing_alg_values_supported"], metadata

    with OAuth2Client(client_id, key, token_endpoint_auth_method="private_key_jwt") as client:
        client.register_client_auth_method(Fapi2PrivateKeyJWT(token_url, issuer))
        token = client.fetch_token(token_url, grant_type="client_credentials")
        me = client.get(base + "/me")
        assert me.status_code == 200, (me.status_code, me.text)
        assert me.json()["client_id"] == client_id, me.text
        assert token["token_type"].lower() == "bearer", token

    now = int(time.time())

    def sign(**claims):
        return private_key_jwt_sign(
            key,
            client_id=client_id,
            token_endpoint=token_url,
            alg="ES256",
            claims={"aud": issuer, **claims},
            issued_at=now,
            expires_at=claims.pop("exp", now + 60),
        )

    once = sign()
    assert post_assertion(token_url, once).status_code == 200
    refused(post_assertion(token_url, once), "replayed")
    good = sign()
    head, body, signature = good.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    refused(post_assertion(token_url, f"{head}.{body}.{flipped}"), "tampered signature")
    refused(post_assertion(token_url, sign(exp=now - 120)), "expired")
    refused(post_assertion(token_url, sign(aud="https://elsewhere.example")), "wrong aud")
    refused(post_assertion(token_url, sign(aud=token_url)), "aud = the token endpoint")
    # authlib's defaults: aud is the token endpoint, exp an hour ahead.
    default = private_key_jwt_sign(key, client_id=client_id, token_endpoint=token_url, alg="ES256")
    refused(post_assertion(token_url, default), "authlib's default claims")
    print("authlib private_key_jwt: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
