"""A DPoP client written with PyJWT + cryptography against the demo (RFC 9449): it reads the
metadata, gets a DPoP-bound token with a proof, calls /me with fresh proofs, and checks that a
replayed proof, the token as Bearer, another key's proof and a bad proof at the token endpoint
are refused with the RFC's errors; introspection reports the binding.

usage: dpop_demo_client.py BASE CLIENT_ID CLIENT_SECRET
"""

import sys

import httpx
import jwt

from dpop_key import Key, thumbprint

base, client_id, client_secret = sys.argv[1:4]
http = httpx.Client(base_url=base, timeout=10)


def challenges(response):
    return response.headers.get_list("www-authenticate")


metadata = http.get("/.well-known/oauth-authorization-server").json()
assert "ES256" in metadata["dpop_signing_alg_values_supported"], metadata
token_url = metadata["token_endpoint"]
assert token_url == f"{base}/oauth2/token", token_url

key = Key()
auth = (client_id, client_secret)
form = {"grant_type": "client_credentials"}

# A bad proof at the token endpoint: 400 invalid_dpop_proof, no token.
bad = http.post("/oauth2/token", data=form, auth=auth,
                headers={"DPoP": key.proof("POST", f"{base}/elsewhere")})
assert bad.status_code == 400, (bad.status_code, bad.text)
assert bad.json()["error"] == "invalid_dpop_proof", bad.text

# A DPoP-bound token.
issued = http.post("/oauth2/token", data=form, auth=auth, headers={"DPoP": key.proof("POST", token_url)})
assert issued.status_code == 200, (issued.status_code, issued.text)
body = issued.json()
assert body["token_type"] == "DPoP", body
token = body["access_token"]
claims = jwt.decode(token, options={"verify_signature": False})
assert claims["cnf"]["jkt"] == thumbprint(key.jwk), claims

# Used with fresh proofs: accepted, each time.
me_url = f"{base}/me"
for _ in range(2):
    ok = http.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", me_url, token)})
    assert ok.status_code == 200, (ok.status_code, ok.text, challenges(ok))
    assert ok.json()["client_id"] == client_id, ok.text

# The same proof again: a replay.
once = key.proof("GET", me_url, token)
assert http.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": once}).status_code == 200
replayed = http.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": once})
assert replayed.status_code == 401, replayed.status_code
assert any('error="invalid_dpop_proof"' in c and c.startswith("DPoP ") for c in challenges(replayed)), challenges(replayed)

# The token as Bearer (stolen, no key): refused.
as_bearer = http.get("/me", headers={"Authorization": f"Bearer {token}"})
assert as_bearer.status_code == 401, as_bearer.status_code
assert any('Bearer' in c and 'error="invalid_token"' in c for c in challenges(as_bearer)), challenges(as_bearer)

# The token with a valid proof by another key: the binding fails (invalid_token, DPoP scheme).
thief = Key()
stolen = http.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": thief.proof("GET", me_url, token)})
assert stolen.status_code == 401, stolen.status_code
assert any(c.startswith("DPoP ") and 'error="invalid_token"' in c for c in challenges(stolen)), challenges(stolen)

# Introspection tells a resource server the token is bound, and to which key.
answer = http.post("/oauth2/introspect", data={"token": token}, auth=auth).json()
assert answer["active"] is True and answer["token_type"] == "DPoP", answer
assert answer["cnf"] == {"jkt": thumbprint(key.jwk)}, answer

# A bound token without a scope the route needs: 403, with the challenge in the DPoP scheme.
narrow = http.post("/oauth2/token", data={**form, "scope": "reports:read"}, auth=auth,
                   headers={"DPoP": key.proof("POST", token_url)}).json()["access_token"]
export_url = f"{base}/reports/export"
forbidden = http.get("/reports/export", headers={"Authorization": f"DPoP {narrow}",
                                                 "DPoP": key.proof("GET", export_url, narrow)})
assert forbidden.status_code == 403, (forbidden.status_code, forbidden.text)
assert any(c.startswith("DPoP ") and 'error="insufficient_scope"' in c and "algs=" in c
           for c in challenges(forbidden)), challenges(forbidden)

# The OpenAPI document names the scheme, and /me accepts it.
doc = http.get("/openapi.json").json()
assert doc["components"]["securitySchemes"]["dpop"] == {
    "type": "apiKey", "in": "header", "name": "DPoP",
    "description": doc["components"]["securitySchemes"]["dpop"]["description"],
}, doc["components"]["securitySchemes"]["dpop"]
assert {"dpop": []} in doc["paths"]["/me"]["get"]["security"], doc["paths"]["/me"]["get"]["security"]

print("dpop ok")

# A DPoP-bound token cannot mint a session cookie: the cookie is a bearer credential, and would
# let whoever holds it act without the key (issue 20, item 4).
session_url = f"{base}/session"
minted = http.post("/session", headers={"Authorization": f"DPoP {token}",
                                         "DPoP": key.proof("POST", session_url, token)})
assert minted.status_code == 400, (minted.status_code, minted.text)
assert "set-cookie" not in minted.headers, minted.headers

print("dpop session refused")
