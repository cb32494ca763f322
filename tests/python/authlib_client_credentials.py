"""Python's authlib OAuth2Client against an authstar token endpoint, then a protected route.

Usage: authlib_client_credentials.py BASE_URL TOKEN_PATH AUTH_METHOD
AUTH_METHOD is client_secret_basic or client_secret_post. Exits non-zero on any failure.
"""

import sys

from authlib.integrations.httpx_client import OAuth2Client


def main() -> int:
    base, token_path, method = sys.argv[1], sys.argv[2], sys.argv[3]
    with OAuth2Client(
        client_id="svc",
        client_secret="svc-secret",
        token_endpoint_auth_method=method,
        scope="reports:read",
    ) as client:
        token = client.fetch_token(base + token_path, grant_type="client_credentials")
        assert token["token_type"] == "Bearer", token
        assert token["expires_in"] == 3600, token
        assert token["scope"] == "reports:read", token
        assert "refresh_token" not in token, token
        response = client.get(base + "/reports")
        assert response.status_code == 200, response.status_code
        assert response.text == "reports", response.text
    with OAuth2Client(
        client_id="svc", client_secret="wrong", token_endpoint_auth_method=method
    ) as client:
        try:
            client.fetch_token(base + token_path, grant_type="client_credentials")
        except Exception as error:  # authlib raises OAuthError with the RFC error code
            assert getattr(error, "error", None) == "invalid_client", repr(error)
        else:
            raise AssertionError("a wrong secret was accepted")
    print(f"authlib {method}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
