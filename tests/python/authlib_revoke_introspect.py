"""Python's authlib OAuth2Client against the demo's RFC 7009 and RFC 7662 endpoints.

Usage: authlib_revoke_introspect.py BASE_URL CLIENT_ID CLIENT_SECRET
Fetches a token, introspects it (active), uses it, revokes it, then checks that it is refused
and introspects as inactive. Exits non-zero on any failure.
"""

import sys

import httpx
from authlib.integrations.httpx_client import OAuth2Client


def main() -> int:
    base, client_id, secret = sys.argv[1], sys.argv[2], sys.argv[3]
    metadata = httpx.get(base + "/.well-known/oauth-authorization-server").json()
    revoke_url = metadata["revocation_endpoint"]
    introspect_url = metadata["introspection_endpoint"]
    with OAuth2Client(
        client_id=client_id,
        client_secret=secret,
        token_endpoint_auth_method="client_secret_basic",
    ) as client:
        token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        access = token["access_token"]

        answer = client.introspect_token(introspect_url, token=access).json()
        assert answer["active"] is True, answer
        assert answer["client_id"] == client_id, answer
        assert answer["token_type"] == "Bearer", answer
        assert answer["iss"] == metadata["issuer"], answer
        assert answer["exp"] > answer["iat"], answer

        assert client.get(base + "/me").status_code == 200

        revoked = client.revoke_token(revoke_url, token=access, token_type_hint="access_token")
        assert revoked.status_code == 200, (revoked.status_code, revoked.text)

        refused = client.get(base + "/me")
        assert refused.status_code == 401, refused.status_code
        answer = client.introspect_token(introspect_url, token=access).json()
        assert answer == {"active": False}, answer

        again = client.revoke_token(revoke_url, token=access)
        assert again.status_code == 200, "revoking twice is not an error (RFC 7009 §2.2)"
    print("authlib revoke and introspect: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
