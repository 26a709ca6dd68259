"""Seeds the demo organisation over gRPC: its admin user, category tree and catalog. Safe to re-run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc

from demo.catalog import DemoCatalog, DemoProduct, generate_catalog
from omnipricex.common.v1 import money_pb2
from omnipricex.identity.v1 import identity_pb2, identity_pb2_grpc
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.clients import auth_metadata, open_channel
from runtime.settings import Settings

DEMO_ORGANIZATION = "Demo Retail"
DEMO_ADMIN_EMAIL = "admin@demo.local"
DEMO_CATALOG_SIZE = 1200
BATCH = 1000
_STATUS = {"active": product_pb2.PRODUCT_STATUS_ACTIVE, "draft": product_pb2.PRODUCT_STATUS_DRAFT}


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    password_is_new: bool
    password_file: Path


def demo_password(settings: Settings) -> DemoLogin:
    """OMNIPRICEX_ADMIN_PASSWORD, or a password generated on first start and kept under data_dir."""
    path = settings.data_dir / "secrets" / "admin_password"
    given = os.environ.get("OMNIPRICEX_ADMIN_PASSWORD")
    if given:
        return DemoLogin(DEMO_ADMIN_EMAIL, given, False, path)
    if path.exists():
        return DemoLogin(DEMO_ADMIN_EMAIL, path.read_text().strip(), False, path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(15)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    return DemoLogin(DEMO_ADMIN_EMAIL, password, True, path)


async def seed_demo(settings: Settings, login: DemoLogin) -> int:
    """Create the demo organisation and catalog if missing; returns how many products were written."""
    identity = open_channel(settings.identity_address, settings)
    product = open_channel(settings.product_address, settings)
    try:
        token = await _admin_token(settings, identity, login)
        catalog = generate_catalog(DEMO_CATALOG_SIZE)
        category_ids = await _ensure_categories(product, token, catalog, settings.rpc_deadline_seconds)
        return await _upsert_products(product, token, catalog, category_ids, settings.long_rpc_deadline_seconds)
    finally:
        await identity.close()
        await product.close()


async def _admin_token(settings: Settings, channel: grpc.aio.Channel, login: DemoLogin) -> str:
    auth = identity_pb2_grpc.AuthServiceStub(channel)
    request = identity_pb2.LoginRequest(email=login.email, password=login.password)
    try:
        return (await auth.Login(request, timeout=settings.rpc_deadline_seconds)).tokens.access_token
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise
    organizations = identity_pb2_grpc.OrganizationServiceStub(channel)
    try:
        await organizations.CreateOrganization(
            identity_pb2.CreateOrganizationRequest(
                name=DEMO_ORGANIZATION, owner_email=login.email, owner_password=login.password
            ),
            metadata=(("x-bootstrap-token", settings.require_bootstrap_token()),),
            timeout=settings.rpc_deadline_seconds,
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.ALREADY_EXISTS:
            raise SystemExit(
                f"{login.email} exists with another password: set OMNIPRICEX_ADMIN_PASSWORD to it, "
                f"or start from an empty OMNIPRICEX_DATA_DIR"
            ) from None
        raise
    return (await auth.Login(request, timeout=settings.rpc_deadline_seconds)).tokens.access_token


async def _ensure_categories(
    channel: grpc.aio.Channel, token: str, catalog: DemoCatalog, deadline: float
) -> dict[str, str]:
    stub = product_pb2_grpc.CategoryServiceStub(channel)
    metadata = auth_metadata(token)
    listed = await stub.ListCategories(product_pb2.ListCategoriesRequest(), metadata=metadata, timeout=deadline)
    existing = listed.categories
    by_path = {(c.parent_id, c.name): c.id for c in existing}
    ids: dict[str, str] = {}
    for category in catalog.categories:  # parents come before their children
        parent = ids.get(category.parent_id, "") if category.parent_id else ""
        found = by_path.get((parent, category.name))
        if found is None:
            created = await stub.CreateCategory(
                product_pb2.CreateCategoryRequest(
                    category=product_pb2.Category(id=category.id, name=category.name, parent_id=parent)
                ),
                metadata=metadata,
                timeout=deadline,
            )
            found = created.category.id
        ids[category.id] = found
    return ids


async def _upsert_products(
    channel: grpc.aio.Channel, token: str, catalog: DemoCatalog, category_ids: dict[str, str], deadline: float
) -> int:
    stub = product_pb2_grpc.ProductServiceStub(channel)
    written = 0
    messages = [_product_message(p, category_ids) for p in catalog.products]
    for start in range(0, len(messages), BATCH):
        response = await stub.BulkUpsertProducts(
            product_pb2.BulkUpsertProductsRequest(products=messages[start : start + BATCH], reason="demo seed"),
            metadata=auth_metadata(token),
            timeout=deadline,
        )
        if response.errors:
            first = response.errors[0]
            raise RuntimeError(f"demo catalog refused at row {first.row} ({first.sku}): {first.field} {first.message}")
        written += response.created + response.updated
    return written


def _product_message(product: DemoProduct, category_ids: dict[str, str]) -> product_pb2.Product:
    def money(amount_minor: int) -> money_pb2.Money:
        return money_pb2.Money(amount_minor=amount_minor, currency=product.currency)

    message = product_pb2.Product(
        sku=product.sku,
        title=product.title,
        brand=product.brand,
        gtin=product.gtin,
        mpn=product.mpn,
        category_id=category_ids[product.category_id],
        cost=money(product.cost_minor),
        price=money(product.price_minor),
        stock=product.stock,
        attributes=product.attributes,
        status=_STATUS[product.status],
    )
    if product.map_minor is not None:
        message.map_price.CopyFrom(money(product.map_minor))
    return message
