"""Server nonces (RFC 9449 §8, §9) against the demo started with --dpop-nonces, from a PyJWT
client: the token endpoint and /me first answer use_dpop_nonce with a DPoP-Nonce, and accept
proofs that carry it; a made-up nonce is refused the same way; every success hands out the
nonce to use next (RFC 9449 §8.2), which the next proof carries.

usage: dpop_nonce_client.py BASE CLIENT_ID CLIENT_SECRET
"""

import sys

import httpx

from dpop_key import Key

base, client_id, client_secret = sys.argv[1:4]
http = httpx.Client(base_url=base, timeout=10)
key = Key()
auth = (client_id, client_secret)
form = {"grant_type": "client_credentials"}
token_url = f"{base}/oauth2/token"

# §8: the token endpoint asks for its nonce.
first = http.post("/oauth2/token", data=form, auth=auth, headers={"DPoP": key.proof("POST", token_url)})
assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce", (first.status_code, first.text)
nonce = first.headers["DPoP-Nonce"]
issued = http.post("/oauth2/token", data=form, auth=auth,
                   headers={"DPoP": key.proof("POST", token_url, nonce=nonce)})
assert issued.status_code == 200 and issued.json()["token_type"] == "DPoP", issued.text
token = issued.json()["access_token"]
assert issued.headers.get("DPoP-Nonce"), issued.headers

# §9: so does the resource, with the challenge in the DPoP scheme.
me_url = f"{base}/me"
for bad in (None, "made-up"):
    extra = {} if bad is None else {"nonce": bad}
    refused = http.get("/me", headers={"Authorization": f"DPoP {token}",
                                       "DPoP": key.proof("GET", me_url, token, **extra)})
    assert refused.status_code == 401, refused.status_code
    challenges = refused.headers.get_list("www-authenticate")
    assert any(c.startswith("DPoP ") and 'error="use_dpop_nonce"' in c for c in challenges), challenges
    assert refused.json()["error"] == "use_dpop_nonce", refused.text
    nonce = refused.headers["DPoP-Nonce"]
for _ in range(3):
    ok = http.get("/me", headers={"Authorization": f"DPoP {token}",
                                  "DPoP": key.proof("GET", me_url, token, nonce=nonce)})
    assert ok.status_code == 200 and ok.json()["client_id"] == client_id, (ok.status_code, ok.text)
    nonce = ok.headers["DPoP-Nonce"]

# A Bearer client of the same demo is not handed nonces.
plain = http.post("/oauth2/token", data=form, auth=auth)
assert plain.status_code == 200 and plain.json()["token_type"] == "Bearer", plain.text
assert "DPoP-Nonce" not in plain.headers, plain.headers
bearer = http.get("/me", headers={"Authorization": f"Bearer {plain.json()['access_token']}"})
assert bearer.status_code == 200 and "DPoP-Nonce" not in bearer.headers, bearer.headers

print("nonces ok")
