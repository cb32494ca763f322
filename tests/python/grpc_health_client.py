"""A gRPC client in Python (grpcio, the reference C-core implementation) against a tonic server
behind the authstar layer: credentials in metadata pass; missing, malformed and refused ones are
UNAUTHENTICATED with the challenge in the metadata; guessing ends in RESOURCE_EXHAUSTED.

usage: grpc_health_client.py HOST:PORT GUARDED_HOST:PORT

The second server guards `Check` with the `health:read` scope (PERMISSION_DENIED without it).
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

target, guarded = sys.argv[1], sys.argv[2]
health = health_pb2_grpc.HealthStub(grpc.insecure_channel(target))
request = health_pb2.HealthCheckRequest(service="reports")


def check(metadata, stub=health):
    return stub.Check(request, metadata=metadata, timeout=10)


def refused(metadata, stub=health):
    try:
        check(metadata, stub)
    except grpc.RpcError as error:
        # Trailers-only: grpcio reports the headers as trailing metadata. A key may repeat
        # (one challenge per scheme): every value is kept.
        values = {}
        for key, value in list(error.trailing_metadata() or ()) + list(error.initial_metadata() or ()):
            values.setdefault(key, []).append(value)
        return error.code(), error.details(), values
    raise AssertionError(f"{metadata} was accepted")


SERVING = health_pb2.HealthCheckResponse.SERVING
assert check([("authorization", "Bearer good-token")]).status == SERVING
assert check([("x-api-key", "good-key")]).status == SERVING

code, details, metadata = refused([])
assert code == grpc.StatusCode.UNAUTHENTICATED, code
assert details == "missing, malformed or refused credentials", details
challenges = metadata["www-authenticate"]
assert any(c.startswith("Bearer") for c in challenges), challenges
assert any(c.startswith("ApiKey") for c in challenges), challenges

for credential in [
    ("authorization", "Bearer not{a}token"),
    ("authorization", "Bearer wrong-token"),
    ("x-api-key", "wrong-key"),
]:
    code, _, metadata = refused([credential])
    assert code == grpc.StatusCode.UNAUTHENTICATED, (credential, code)
    assert "www-authenticate" in metadata, (credential, metadata)

codes = [refused([("authorization", f"Bearer guess-{i}")])[0] for i in range(8)]
assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED, codes
guarded_health = health_pb2_grpc.HealthStub(grpc.insecure_channel(guarded))
code, _, metadata = refused([("authorization", "Bearer reader")], guarded_health)
assert code == grpc.StatusCode.PERMISSION_DENIED, code
assert any("insufficient_scope" in c for c in metadata["www-authenticate"]), metadata
assert check([("authorization", "Bearer monitor")], guarded_health).status == SERVING
print("grpc ok")
