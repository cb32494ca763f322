"""DPoP proofs made by an independent JOSE implementation (PyJWT + cryptography), for the Rust
verifier to check: prints JSON lines {"name", "proof", "method", "url", "token", "jkt"} where
`jkt` is the RFC 7638 thumbprint computed here, by hand, from the public key.

usage: dpop_proofs.py
"""

import base64
import hashlib
import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict) -> str:
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
    members = {k: jwk[k] for k in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


def proof(private_key, alg, jwk, method, url, token=None, **overrides):
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        claims["ath"] = b64(hashlib.sha256(token.encode()).digest())
    claims.update(overrides)
    return jwt.encode(claims, private_key, algorithm=alg, headers={"typ": "dpop+jwt", "jwk": jwk})


es = ec.generate_private_key(ec.SECP256R1())
es_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(es.public_key()))
ed = ed25519.Ed25519PrivateKey.generate()
ed_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed.public_key()))
token = "eyJhbGciOiJFUzI1NiJ9.e30.sig"
url = "https://api.example/reports"
cases = [
    ("es256", proof(es, "ES256", es_jwk, "POST", url), "POST", url, None, thumbprint(es_jwk)),
    ("eddsa+ath", proof(ed, "EdDSA", ed_jwk, "GET", url, token), "GET", url, token, thumbprint(ed_jwk)),
    ("stale", proof(es, "ES256", es_jwk, "POST", url, iat=int(time.time()) - 3600), "POST", url, None, None),
    ("wrong-htu", proof(es, "ES256", es_jwk, "POST", "https://evil.example/reports"), "POST", url, None, None),
]
for name, p, method, u, t, jkt in cases:
    print(json.dumps({"name": name, "proof": p, "method": method, "url": u, "token": t, "jkt": jkt}))
