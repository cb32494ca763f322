"""One DPoP proof, two instances behind one issuer URL: used on the first, then replayed to the
second. With the instances sharing Redis the replay is refused (RFC 9449 §11.1); without, it is
accepted (each instance remembers only its own), which is what the control run shows.

usage: dpop_replay_across.py ISSUER BASE_A BASE_B CLIENT_ID CLIENT_SECRET refused|accepted
"""

import sys
import time

import httpx

from dpop_key import Key

issuer, base_a, base_b, client_id, client_secret, expect = sys.argv[1:7]
a = httpx.Client(base_url=base_a, timeout=10)
b = httpx.Client(base_url=base_b, timeout=10)
key = Key()
issued = a.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret),
                headers={"DPoP": key.proof("POST", f"{issuer}/oauth2/token")})
assert issued.status_code == 200 and issued.json()["token_type"] == "DPoP", issued.text
token = issued.json()["access_token"]
authorization = {"Authorization": f"DPoP {token}"}

for first, second in ((a, b), (b, a)):
    proof = key.proof("GET", f"{issuer}/me", token)
    used = first.get("/me", headers={**authorization, "DPoP": proof})
    assert used.status_code == 200, (used.status_code, used.headers.get_list("www-authenticate"))
    time.sleep(0.3)  # the publication's delay is ~1 ms; leave it room under a loaded CI
    replayed = second.get("/me", headers={**authorization, "DPoP": proof})
    if expect == "refused":
        assert replayed.status_code == 401, replayed.status_code
        assert any('error="invalid_dpop_proof"' in c for c in replayed.headers.get_list("www-authenticate"))
    else:
        assert replayed.status_code == 200, replayed.status_code
    # A fresh proof still works on the second instance.
    fresh = second.get("/me", headers={**authorization, "DPoP": key.proof("GET", f"{issuer}/me", token)})
    assert fresh.status_code == 200, fresh.status_code

print(f"replay {expect}")
