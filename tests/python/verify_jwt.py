"""Verifies an authstar access token independently with PyJWT against the service's JWKS.

Usage: verify_jwt.py JWKS_URL ISSUER TOKEN. Prints the verified claims as JSON; exits non-zero
when the token does not verify.
"""

import json
import sys

import jwt


def main() -> int:
    jwks_url, issuer, token = sys.argv[1], sys.argv[2], sys.argv[3]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt", header
    signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["ES256", "EdDSA"],
        audience=issuer,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
