"""A gRPC client in Python (grpcio, the reference C-core implementation) against a tonic server
behind the authstar layer: credentials in metadata pass; missing, malformed and refused ones are
UNAUTHENTICATED with the challenge in the metadata; guessing ends in RESOURCE_EXHAUSTED.

usage: grpc_health_client.py HOST:PORT GUARDED_HOST:PORT REPORTS_HOST:PORT

The second server guards `Check` with the `health:read` scope (PERMISSION_DENIED without it).
The third is the `grpc_reports` example, called without generated stubs: the protobuf bytes of
`ExportRequest{report: "q3"}` written out, the `ExportReply` read field by field.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

target, guarded, reports = sys.argv[1], sys.argv[2], sys.argv[3]
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


def strings(message):
    # proto3 fields 1..n, each a length-delimited string (wire type 2), lengths under 128.
    fields, i = {}, 0
    while i < len(message):
        tag, length = message[i], message[i + 1]
        fields[tag >> 3] = message[i + 2 : i + 2 + length].decode()
        i += 2 + length
    return fields


reports_channel = grpc.insecure_channel(reports)
export = reports_channel.unary_unary("/reports.Reports/Export")
reply = strings(export(b"\x0a\x02q3", metadata=[("x-api-key", "demo-key")], timeout=10))
assert reply == {1: "exporter", 2: "q3"}, reply
try:
    export(b"\x0a\x02q3", metadata=[("authorization", "Bearer demo-token")], timeout=10)
    raise AssertionError("an under-scoped client exported")
except grpc.RpcError as error:
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.code()
print("grpc ok")
