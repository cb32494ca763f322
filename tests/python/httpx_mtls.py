"""Python's httpx over mutual TLS against the demo (RFC 8705 §3).

Usage: httpx_mtls.py BASE_URL CLIENT_ID CLIENT_SECRET OURS_CERT OURS_KEY THEIRS_CERT THEIRS_KEY
Gets a token over a connection presenting OURS (client_secret_basic): the token is bound to it.
Uses it with OURS (200), with THEIRS (401) and with no certificate (401). Exits non-zero on any
failure. The demo's own certificate is self-signed: verification is off for the server only.
"""

import sys

import httpx


def main() -> int:
    base, client_id, secret, ours, ours_key, theirs, theirs_key = sys.argv[1:8]
    with httpx.Client(cert=(ours, ours_key), verify=False) as client:
        answer = client.post(
            base + "/oauth2/token",
            auth=(client_id, secret),
            data={"grant_type": "client_credentials"},
        )
        assert answer.status_code == 200, (answer.status_code, answer.text)
        token = answer.json()["access_token"]
        me = client.get(base + "/me", headers={"authorization": f"Bearer {token}"})
        assert me.status_code == 200, (me.status_code, me.text)
    with httpx.Client(cert=(theirs, theirs_key), verify=False) as other:
        refused = other.get(base + "/me", headers={"authorization": f"Bearer {token}"})
        assert refused.status_code == 401, refused.status_code
    with httpx.Client(verify=False) as none:
        refused = none.get(base + "/me", headers={"authorization": f"Bearer {token}"})
        assert refused.status_code == 401, refused.status_code
    print("httpx mtls: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
