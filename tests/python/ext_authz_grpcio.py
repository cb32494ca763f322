"""Envoy's ext_authz v3 Check against `authstar gateway --ext-authz-port`, with grpcio and the
Envoy protos from PyPI (xds-protos), as Envoy's own filter would ask: an API key allowed (the
identity set upstream, a forged one overwritten), nobody refused with 401 and the challenges,
and the gRPC health service SERVING.

    python3 ext_authz_grpcio.py HOST:PORT API_KEY
"""

import sys

import grpc
from envoy.config.core.v3 import address_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(stub, headers, path="/me"):
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        method="GET", host="api.example:8443", scheme="https", path=path, headers=headers
    )
    source = attribute_context_pb2.AttributeContext.Peer(
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="10.1.2.3", port_value=41000)
        )
    )
    attributes = attribute_context_pb2.AttributeContext(
        source=source, request=attribute_context_pb2.AttributeContext.Request(http=http)
    )
    return stub.Check(external_auth_pb2.CheckRequest(attributes=attributes), timeout=10)


def main():
    target, api_key = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(target) as channel:
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        allowed = check(stub, {"x-api-key": api_key, "x-authstar-client-id": "admin"})
        assert allowed.status.code == 0, allowed
        assert allowed.HasField("ok_response"), allowed
        upstream = {o.header.key.lower(): o.header.value for o in allowed.ok_response.headers}
        assert upstream["x-authstar-client-id"] == "demo-client", upstream
        assert upstream["x-authstar-method"] == "x-api-key", upstream

        refused = check(stub, {})
        assert refused.status.code == grpc.StatusCode.UNAUTHENTICATED.value[0], refused
        assert refused.denied_response.status.code == 401, refused
        challenges = [o.header.value for o in refused.denied_response.headers
                      if o.header.key.lower() == "www-authenticate"]
        assert any("Bearer" in c for c in challenges), refused

        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="envoy.service.auth.v3.Authorization"),
            timeout=10,
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING, health
    print("ok")


if __name__ == "__main__":
    main()
