"""The gRPC services behind the gateway: channels, stubs, and the per-app state request handlers use."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc

from omnipricex.identity.v1 import identity_pb2_grpc
from omnipricex.product.v1 import product_pb2_grpc
from runtime.auth import Authenticator
from runtime.clients import open_channel
from runtime.identity_client import remote_authenticator
from runtime.settings import Settings

READINESS_DEADLINE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Channels:
    product: grpc.aio.Channel
    identity: grpc.aio.Channel

    @classmethod
    def open(cls, settings: Settings) -> Channels:
        return cls(
            product=open_channel(settings.product_address, settings),
            identity=open_channel(settings.identity_address, settings),
        )

    async def close(self) -> None:
        await self.product.close()
        await self.identity.close()


class Stubs:
    def __init__(self, channels: Channels) -> None:
        self.products = product_pb2_grpc.ProductServiceStub(channels.product)
        self.categories = product_pb2_grpc.CategoryServiceStub(channels.product)
        self.auth = identity_pb2_grpc.AuthServiceStub(channels.identity)
        self.users = identity_pb2_grpc.UserServiceStub(channels.identity)
        self.api_keys = identity_pb2_grpc.ApiKeyServiceStub(channels.identity)
        self.audit = identity_pb2_grpc.AuditServiceStub(channels.identity)
        self.health = {
            "product": health_pb2_grpc.HealthStub(channels.product),
            "identity": health_pb2_grpc.HealthStub(channels.identity),
        }


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What request handlers need, built once per app when it starts."""

    stubs: Stubs
    authenticator: Authenticator
    deadline: float
    long_deadline: float
    readiness_deadline: float

    @classmethod
    def build(cls, settings: Settings, channels: Channels) -> GatewayState:
        deadline = settings.rpc_deadline_seconds
        return cls(
            stubs=Stubs(channels),
            authenticator=remote_authenticator(settings, channels.identity),
            deadline=deadline,
            long_deadline=settings.long_rpc_deadline_seconds,
            readiness_deadline=min(READINESS_DEADLINE_SECONDS, deadline),
        )
