"""Call any RPC of a running service by name, discovering its messages through gRPC reflection.

python -m cli.grpc_call HOST:PORT package.Service/Method '{"json": "request"}' [--token TOKEN]
"""

from __future__ import annotations

import argparse
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def call(address: str, method: str, body: str, token: str | None, timeout: float) -> str:
    service_name, _, method_name = method.partition("/")
    with grpc.insecure_channel(address) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName(service_name)
        rpc = service.methods_by_name[method_name]
        request_class = message_factory.GetMessageClass(rpc.input_type)
        response_class = message_factory.GetMessageClass(rpc.output_type)
        request = json_format.Parse(body or "{}", request_class())
        invoke = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        response = invoke(request, metadata=metadata, timeout=timeout)
        return json_format.MessageToJson(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address")
    parser.add_argument("method", help="package.Service/Method")
    parser.add_argument("body", nargs="?", default="{}", help="request as JSON")
    parser.add_argument("--token", help="access token or API key")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    try:
        print(call(args.address, args.method, args.body, args.token, args.timeout))
    except grpc.RpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
