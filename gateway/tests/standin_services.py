"""TEST SCAFFOLDING — in-memory stand-ins for the product and identity services.

They exist only to test the gateway's translation layer against real gRPC servers on loopback: they are
served by the real runtime bootstrap (runtime.grpc_server.start_server: auth interceptor, error mapping,
health service), keep their data in dicts, and implement just enough behaviour for the gateway's tests.
The real services live in services/ and are tested there; end-to-end tests run the gateway against them.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.identity.v1 import identity_pb2, identity_pb2_grpc
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.auth import AccessTokens, Authenticator, CredentialKind, Principal, Role, current_principal
from runtime.clock import utcnow
from runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from runtime.grpc_server import RunningServer, ServiceDefinition, start_server
from runtime.ids import new_id
from runtime.money import Money
from runtime.pagination import decode_token, encode_token, page_size
from runtime.testing.auth import RecordingAuditSink

MAX_TITLE_LENGTH = 500
SLOW_SKU = "SLOW-1"
FAIL_PREFIX = "FAIL-"  # GetProduct of "FAIL-NOT_FOUND" aborts with that status code


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(utcnow())
    return stamp


# --------------------------------------------------------------------------------------------- identity


@dataclass
class StandinUser:
    message: identity_pb2.User
    password: str


class IdentityStandin:
    """Users, API keys, refresh tokens and audit entries in dicts; tokens signed like the real ones."""

    def __init__(self, tokens: AccessTokens) -> None:
        self.tokens = tokens
        self.users: dict[str, StandinUser] = {}
        self.api_keys: dict[str, tuple[identity_pb2.ApiKey, Principal]] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user id
        self.audit: list[identity_pb2.AuditEntry] = []

    def add_user(self, email: str, password: str, role: Role, organization_id: str) -> identity_pb2.User:
        user = identity_pb2.User(
            id=new_id("usr_"),
            organization_id=organization_id,
            email=email,
            role=identity_pb2.Role.ValueType(role.value),
            create_time=_now(),
        )
        self.users[user.id] = StandinUser(user, password)
        return user

    def add_api_key(self, role: Role, organization_id: str, name: str = "key") -> str:
        secret = "opx_" + new_id()
        key = identity_pb2.ApiKey(
            id=new_id("key_"),
            organization_id=organization_id,
            name=name,
            role=identity_pb2.Role.ValueType(role.value),
            display_prefix=secret[:10],
            create_time=_now(),
            created_by="standin",
        )
        self.api_keys[secret] = (key, Principal(organization_id, key.id, role, CredentialKind.API_KEY))
        return secret

    async def resolve_api_key(self, credential: str) -> Principal:
        found = self.api_keys.get(credential)
        if found is None or found[0].HasField("revoke_time"):
            raise Unauthenticated("API key is not valid")
        return found[1]

    def token_pair(self, user: identity_pb2.User) -> identity_pb2.TokenPair:
        issued = self.tokens.issue(user_id=user.id, organization_id=user.organization_id, role=Role(user.role))
        refresh = new_id("rt_")
        self.refresh_tokens[refresh] = user.id
        return identity_pb2.TokenPair(
            access_token=issued.token,
            expires_in=issued.expires_in,
            refresh_token=refresh,
            refresh_expires_in=3600,
            token_type="Bearer",
        )

    def org_users(self) -> list[identity_pb2.User]:
        organization_id = current_principal().organization_id
        return [user.message for user in self.users.values() if user.message.organization_id == organization_id]

    def user_in_org(self, user_id: str) -> identity_pb2.User:
        for user in self.org_users():
            if user.id == user_id:
                return user
        raise NotFound(f"no user {user_id}")


class AuthStandin(identity_pb2_grpc.AuthServiceServicer):
    def __init__(self, state: IdentityStandin) -> None:
        self.state = state

    async def Login(self, request: Any, context: Any) -> identity_pb2.LoginResponse:
        for user in self.state.users.values():
            if user.message.email == request.email and user.password == request.password:
                if user.message.disabled:
                    break
                return identity_pb2.LoginResponse(tokens=self.state.token_pair(user.message), user=user.message)
        raise Unauthenticated("email or password is wrong")

    async def RefreshToken(self, request: Any, context: Any) -> identity_pb2.RefreshTokenResponse:
        user_id = self.state.refresh_tokens.pop(request.refresh_token, None)
        if user_id is None:
            raise Unauthenticated("refresh token is not valid")
        return identity_pb2.RefreshTokenResponse(tokens=self.state.token_pair(self.state.users[user_id].message))

    async def Logout(self, request: Any, context: Any) -> identity_pb2.LogoutResponse:
        current_principal()
        self.state.refresh_tokens.pop(request.refresh_token, None)
        return identity_pb2.LogoutResponse()

    async def Authenticate(self, request: Any, context: Any) -> identity_pb2.AuthenticateResponse:
        principal = await self.state.resolve_api_key(request.credential)
        return identity_pb2.AuthenticateResponse(
            principal=identity_pb2.Principal(
                organization_id=principal.organization_id,
                subject_id=principal.subject_id,
                role=identity_pb2.Role.ValueType(principal.role.value),
                credential_kind=identity_pb2.CredentialKind.ValueType(principal.credential_kind.value),
            )
        )


class UsersStandin(identity_pb2_grpc.UserServiceServicer):
    def __init__(self, state: IdentityStandin) -> None:
        self.state = state

    async def GetCurrentUser(self, request: Any, context: Any) -> identity_pb2.GetCurrentUserResponse:
        principal = current_principal()
        response = identity_pb2.GetCurrentUserResponse(
            principal=identity_pb2.Principal(
                organization_id=principal.organization_id,
                subject_id=principal.subject_id,
                role=identity_pb2.Role.ValueType(principal.role.value),
                credential_kind=identity_pb2.CredentialKind.ValueType(principal.credential_kind.value),
            )
        )
        found = self.state.users.get(principal.subject_id)
        if found is not None:
            response.user.CopyFrom(found.message)
        return response

    async def ListUsers(self, request: Any, context: Any) -> identity_pb2.ListUsersResponse:
        current_principal().require(Role.ADMIN)
        users = sorted(self.state.org_users(), key=lambda user: user.id)
        return identity_pb2.ListUsersResponse(users=users, page=paging_pb2.PageResponse())

    async def CreateUser(self, request: Any, context: Any) -> identity_pb2.CreateUserResponse:
        principal = current_principal()
        principal.require(Role.ADMIN)
        if any(user.email == request.email for user in self.state.org_users()):
            raise AlreadyExists(f"{request.email} is already a user", field="email")
        user = self.state.add_user(request.email, request.password, Role(request.role), principal.organization_id)
        return identity_pb2.CreateUserResponse(user=user)

    async def UpdateUserRole(self, request: Any, context: Any) -> identity_pb2.UpdateUserRoleResponse:
        current_principal().require(Role.ADMIN)
        user = self.state.user_in_org(request.user_id)
        user.role = request.role
        return identity_pb2.UpdateUserRoleResponse(user=user)

    async def DisableUser(self, request: Any, context: Any) -> identity_pb2.DisableUserResponse:
        current_principal().require(Role.ADMIN)
        user = self.state.user_in_org(request.user_id)
        user.disabled = True
        return identity_pb2.DisableUserResponse(user=user)


class ApiKeysStandin(identity_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, state: IdentityStandin) -> None:
        self.state = state

    async def CreateApiKey(self, request: Any, context: Any) -> identity_pb2.CreateApiKeyResponse:
        principal = current_principal()
        principal.require(Role.ADMIN)
        secret = self.state.add_api_key(Role(request.role), principal.organization_id, request.name)
        return identity_pb2.CreateApiKeyResponse(api_key=self.state.api_keys[secret][0], secret=secret)

    async def ListApiKeys(self, request: Any, context: Any) -> identity_pb2.ListApiKeysResponse:
        principal = current_principal()
        principal.require(Role.ADMIN)
        keys = [key for key, _ in self.state.api_keys.values() if key.organization_id == principal.organization_id]
        return identity_pb2.ListApiKeysResponse(api_keys=keys, page=paging_pb2.PageResponse())

    async def RevokeApiKey(self, request: Any, context: Any) -> identity_pb2.RevokeApiKeyResponse:
        principal = current_principal()
        principal.require(Role.ADMIN)
        for key, _ in self.state.api_keys.values():
            if key.id == request.api_key_id and key.organization_id == principal.organization_id:
                key.revoke_time.CopyFrom(_now())
                return identity_pb2.RevokeApiKeyResponse(api_key=key)
        raise NotFound(f"no API key {request.api_key_id}")


class AuditStandin(identity_pb2_grpc.AuditServiceServicer):
    def __init__(self, state: IdentityStandin) -> None:
        self.state = state

    async def RecordAuditEntries(self, request: Any, context: Any) -> identity_pb2.RecordAuditEntriesResponse:
        current_principal()
        self.state.audit.extend(request.entries)
        return identity_pb2.RecordAuditEntriesResponse()

    async def ListAuditEntries(self, request: Any, context: Any) -> identity_pb2.ListAuditEntriesResponse:
        principal = current_principal()
        principal.require(Role.ADMIN)
        entries = [
            entry
            for entry in reversed(self.state.audit)
            if entry.organization_id == principal.organization_id
            and (not request.actor_id or entry.actor_id == request.actor_id)
        ]
        return identity_pb2.ListAuditEntriesResponse(entries=entries, page=paging_pb2.PageResponse())


IDENTITY_SERVICES = (
    "omnipricex.identity.v1.AuthService",
    "omnipricex.identity.v1.UserService",
    "omnipricex.identity.v1.ApiKeyService",
    "omnipricex.identity.v1.AuditService",
)
IDENTITY_PUBLIC = frozenset(
    {
        "/omnipricex.identity.v1.AuthService/Login",
        "/omnipricex.identity.v1.AuthService/RefreshToken",
        "/omnipricex.identity.v1.AuthService/Authenticate",
    }
)


def identity_definition(state: IdentityStandin) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        identity_pb2_grpc.add_AuthServiceServicer_to_server(AuthStandin(state), server)
        identity_pb2_grpc.add_UserServiceServicer_to_server(UsersStandin(state), server)
        identity_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeysStandin(state), server)
        identity_pb2_grpc.add_AuditServiceServicer_to_server(AuditStandin(state), server)

    return ServiceDefinition("identity-standin", IDENTITY_SERVICES, register, IDENTITY_PUBLIC)


# ---------------------------------------------------------------------------------------------- product


class ProductStandin:
    """Products, categories and price events per organisation in dicts; remembers the last update request."""

    def __init__(self) -> None:
        self.products: dict[tuple[str, str], product_pb2.Product] = {}
        self.categories: dict[tuple[str, str], product_pb2.Category] = {}
        self.events: list[tuple[str, product_pb2.PriceEvent]] = []
        self.last_update: product_pb2.UpdateProductRequest | None = None
        self.last_list: product_pb2.ListProductsRequest | None = None

    def row_problems(self, product: product_pb2.Product) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if not product.title:
            problems.append(("title", "title is required"))
        if len(product.title) > MAX_TITLE_LENGTH:
            problems.append(("title", f"title is longer than {MAX_TITLE_LENGTH} characters"))
        if not product.HasField("price"):
            problems.append(("price", "price is required"))
        currencies = {
            getattr(product, name).currency for name in ("cost", "price", "map_price") if product.HasField(name)
        }
        if len(currencies) > 1:
            problems.append(("currency", "cost, price and map_price must share one currency"))
        return problems

    def validate(self, product: product_pb2.Product) -> None:
        problems = self.row_problems(product)
        if problems:
            raise InvalidArgument(problems[0][1], field=problems[0][0])

    def record_price(self, organization_id: str, old: product_pb2.Product | None, new: product_pb2.Product) -> None:
        if old is not None and old.price == new.price:
            return
        event = product_pb2.PriceEvent(
            id=new_id("pe_"),
            sku=new.sku,
            new_price=new.price,
            actor_id=current_principal().subject_id,
            source="standin",
            time=_now(),
        )
        if old is not None:
            event.old_price.CopyFrom(old.price)
        self.events.append((organization_id, event))

    def upsert(self, organization_id: str, rows: Sequence[product_pb2.Product]) -> tuple[int, int, int]:
        created = updated = unchanged = 0
        for row in rows:
            key = (organization_id, row.sku)
            old = self.products.get(key)
            new = product_pb2.Product()
            new.CopyFrom(row)
            if old is None:
                new.create_time.CopyFrom(_now())
                new.update_time.CopyFrom(new.create_time)
                created += 1
            else:
                new.create_time.CopyFrom(old.create_time)
                new.update_time.CopyFrom(old.update_time)
                if new == old:
                    unchanged += 1
                    continue
                new.update_time.CopyFrom(_now())
                updated += 1
            self.products[key] = new
            self.record_price(organization_id, old, new)
        return created, updated, unchanged

    def bulk(self, rows: Sequence[product_pb2.Product]) -> tuple[tuple[int, int, int], list[product_pb2.RowError]]:
        organization_id = current_principal().organization_id
        errors: list[product_pb2.RowError] = []
        seen: set[str] = set()
        for index, row in enumerate(rows):
            for name, message in self.row_problems(row):
                errors.append(product_pb2.RowError(row=index, sku=row.sku, field=name, message=message))
            if row.sku in seen:
                errors.append(product_pb2.RowError(row=index, sku=row.sku, field="sku", message="duplicate sku"))
            seen.add(row.sku)
        if errors:
            return (0, 0, 0), errors
        return self.upsert(organization_id, rows), []


def _matches(product: product_pb2.Product, query: product_pb2.ProductFilter) -> bool:
    status = query.status or None
    if status is not None and product.status != status:
        return False
    if status is None and product.status == product_pb2.PRODUCT_STATUS_ARCHIVED:
        return False
    if query.brand and product.brand != query.brand:
        return False
    if query.category_id and product.category_id != query.category_id:
        return False
    if query.title_query and query.title_query.lower() not in product.title.lower():
        return False
    if query.in_stock and product.stock <= 0:
        return False
    if query.HasField("min_price") and product.price.amount_minor < query.min_price.amount_minor:
        return False
    return not (query.HasField("max_price") and product.price.amount_minor > query.max_price.amount_minor)


CSV_COLUMNS = ("sku", "title", "currency", "price")


class ProductsStandin(product_pb2_grpc.ProductServiceServicer):
    def __init__(self, state: ProductStandin) -> None:
        self.state = state

    def _get(self, sku: str) -> product_pb2.Product:
        found = self.state.products.get((current_principal().organization_id, sku))
        if found is None:
            raise NotFound(f"no product {sku}")
        return found

    async def GetProduct(self, request: Any, context: Any) -> product_pb2.GetProductResponse:
        if request.sku == SLOW_SKU:
            await asyncio.sleep(30)
        if request.sku.startswith(FAIL_PREFIX):
            code = grpc.StatusCode[request.sku.removeprefix(FAIL_PREFIX)]
            await context.abort(code, f"stand-in failure {code.name}")
        return product_pb2.GetProductResponse(product=self._get(request.sku))

    async def ListProducts(self, request: Any, context: Any) -> product_pb2.ListProductsResponse:
        self.state.last_list = request
        organization_id = current_principal().organization_id
        after = str(decode_token(request.page.page_token).get("after", ""))
        size = page_size(request.page.page_size)
        matching = sorted(
            (product for (org, sku), product in self.state.products.items() if org == organization_id and sku > after),
            key=lambda product: product.sku,
        )
        matching = [product for product in matching if _matches(product, request.filter)]
        page = matching[:size]
        token = encode_token({"after": page[-1].sku}) if len(matching) > size else ""
        return product_pb2.ListProductsResponse(products=page, page=paging_pb2.PageResponse(next_page_token=token))

    async def CreateProduct(self, request: Any, context: Any) -> product_pb2.CreateProductResponse:
        principal = current_principal()
        principal.require(Role.PRICING_MANAGER)
        self.state.validate(request.product)
        if (principal.organization_id, request.product.sku) in self.state.products:
            raise AlreadyExists(f"product {request.product.sku} exists", field="sku")
        self.state.upsert(principal.organization_id, [request.product])
        return product_pb2.CreateProductResponse(product=self._get(request.product.sku))

    async def UpdateProduct(self, request: Any, context: Any) -> product_pb2.UpdateProductResponse:
        current_principal().require(Role.PRICING_MANAGER)
        self.state.last_update = request
        current = self._get(request.product.sku)
        changed = product_pb2.Product()
        changed.CopyFrom(current)
        for path in request.update_mask.paths:
            if path not in product_pb2.Product.DESCRIPTOR.fields_by_name or path == "sku":
                raise InvalidArgument(f"cannot update {path}", field="update_mask")
            changed.ClearField(path)
            value = getattr(request.product, path)
            if path == "attributes":
                changed.attributes.update(value)
            elif isinstance(value, money_pb2.Money):
                if request.product.HasField(path):
                    getattr(changed, path).CopyFrom(value)
            else:
                setattr(changed, path, value)
        self.state.validate(changed)
        self.state.upsert(current_principal().organization_id, [changed])
        return product_pb2.UpdateProductResponse(product=self._get(changed.sku))

    async def ArchiveProduct(self, request: Any, context: Any) -> product_pb2.ArchiveProductResponse:
        current_principal().require(Role.PRICING_MANAGER)
        product = self._get(request.sku)
        product.status = product_pb2.PRODUCT_STATUS_ARCHIVED
        return product_pb2.ArchiveProductResponse(product=product)

    async def ListPricingInputs(self, request: Any, context: Any) -> product_pb2.ListPricingInputsResponse:
        organization_id = current_principal().organization_id
        active = sorted(
            (p for (org, _), p in self.state.products.items() if org == organization_id),
            key=lambda product: product.sku,
        )
        response = product_pb2.ListPricingInputsResponse()
        for product in active:
            if product.status not in (product_pb2.PRODUCT_STATUS_ACTIVE, product_pb2.PRODUCT_STATUS_UNSPECIFIED):
                continue
            response.skus.append(product.sku)
            response.brands.append(product.brand)
            response.category_ids.append(product.category_id)
            response.currencies.append(product.price.currency)
            response.price_minor.append(product.price.amount_minor)
            response.cost_minor.append(product.cost.amount_minor if product.HasField("cost") else -1)
            response.map_minor.append(product.map_price.amount_minor if product.HasField("map_price") else -1)
        return response

    async def BatchGetProducts(self, request: Any, context: Any) -> product_pb2.BatchGetProductsResponse:
        organization_id = current_principal().organization_id
        found = [self.state.products.get((organization_id, sku)) for sku in request.skus]
        return product_pb2.BatchGetProductsResponse(products=[product for product in found if product is not None])

    async def ApplyPrices(self, request: Any, context: Any) -> product_pb2.ApplyPricesResponse:
        organization_id = current_principal().organization_id
        current_principal().require(Role.PRICING_MANAGER)
        response = product_pb2.ApplyPricesResponse()
        for change in request.changes:
            product = self.state.products.get((organization_id, change.sku))
            if product is None or product.price != change.expected_price:
                response.refused.add(sku=change.sku, message="the price moved or the product is gone")
                continue
            product.price.CopyFrom(change.new_price)
            response.applied_skus.append(change.sku)
        return response

    async def BulkUpsertProducts(self, request: Any, context: Any) -> product_pb2.BulkUpsertProductsResponse:
        current_principal().require(Role.PRICING_MANAGER)
        (created, updated, unchanged), errors = self.state.bulk(request.products)
        return product_pb2.BulkUpsertProductsResponse(
            created=created, updated=updated, unchanged=unchanged, errors=errors
        )

    async def ImportProductsCsv(self, request: Any, context: Any) -> product_pb2.ImportProductsCsvResponse:
        current_principal().require(Role.PRICING_MANAGER)
        rows = []
        reader = csv.DictReader(io.StringIO(request.csv.decode(errors="replace")))
        if set(CSV_COLUMNS) - set(reader.fieldnames or ()):
            raise InvalidArgument(f"the header row must name {', '.join(CSV_COLUMNS)}", field="csv")
        for line in reader:
            price = Money.parse(line["price"], line["currency"])
            money = money_pb2.Money(amount_minor=price.amount_minor, currency=price.currency)
            rows.append(product_pb2.Product(sku=line["sku"], title=line["title"], price=money))
        (created, updated, unchanged), errors = self.state.bulk(rows)
        return product_pb2.ImportProductsCsvResponse(
            created=created, updated=updated, unchanged=unchanged, errors=errors
        )

    async def ExportProductsCsv(self, request: Any, context: Any) -> product_pb2.ExportProductsCsvResponse:
        organization_id = current_principal().organization_id
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for (org, _), product in sorted(self.state.products.items()):
            if org == organization_id and _matches(product, request.filter):
                price = Money(product.price.amount_minor, product.price.currency).to_decimal_string()
                writer.writerow((product.sku, product.title, product.price.currency, price))
        return product_pb2.ExportProductsCsvResponse(csv=out.getvalue().encode())

    async def ListPriceEvents(self, request: Any, context: Any) -> product_pb2.ListPriceEventsResponse:
        organization_id = current_principal().organization_id
        events = [
            event
            for org, event in reversed(self.state.events)
            if org == organization_id and (not request.sku or event.sku == request.sku)
        ]
        return product_pb2.ListPriceEventsResponse(events=events, page=paging_pb2.PageResponse())


class CategoriesStandin(product_pb2_grpc.CategoryServiceServicer):
    def __init__(self, state: ProductStandin) -> None:
        self.state = state

    def _get(self, category_id: str) -> product_pb2.Category:
        found = self.state.categories.get((current_principal().organization_id, category_id))
        if found is None:
            raise NotFound(f"no category {category_id}")
        return found

    async def ListCategories(self, request: Any, context: Any) -> product_pb2.ListCategoriesResponse:
        organization_id = current_principal().organization_id
        return product_pb2.ListCategoriesResponse(
            categories=[category for (org, _), category in self.state.categories.items() if org == organization_id]
        )

    async def CreateCategory(self, request: Any, context: Any) -> product_pb2.CreateCategoryResponse:
        principal = current_principal()
        principal.require(Role.PRICING_MANAGER)
        if request.category.parent_id:
            self._get(request.category.parent_id)
        category = product_pb2.Category(
            id=new_id("cat_"), name=request.category.name, parent_id=request.category.parent_id
        )
        self.state.categories[principal.organization_id, category.id] = category
        return product_pb2.CreateCategoryResponse(category=category)

    async def UpdateCategory(self, request: Any, context: Any) -> product_pb2.UpdateCategoryResponse:
        current_principal().require(Role.PRICING_MANAGER)
        category = self._get(request.category.id)
        for path in request.update_mask.paths:
            setattr(category, path, getattr(request.category, path))
        return product_pb2.UpdateCategoryResponse(category=category)

    async def DeleteCategory(self, request: Any, context: Any) -> product_pb2.DeleteCategoryResponse:
        principal = current_principal()
        principal.require(Role.PRICING_MANAGER)
        self._get(request.id)
        if any(category.parent_id == request.id for category in self.state.categories.values()):
            raise FailedPrecondition("the category has children")
        del self.state.categories[principal.organization_id, request.id]
        return product_pb2.DeleteCategoryResponse()


PRODUCT_SERVICES = ("omnipricex.product.v1.ProductService", "omnipricex.product.v1.CategoryService")


def product_definition(state: ProductStandin) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        product_pb2_grpc.add_ProductServiceServicer_to_server(ProductsStandin(state), server)
        product_pb2_grpc.add_CategoryServiceServicer_to_server(CategoriesStandin(state), server)

    return ServiceDefinition("product-standin", PRODUCT_SERVICES, register)


async def serve_standin(
    definition: ServiceDefinition, address: str, authenticator: Authenticator, audit: RecordingAuditSink
) -> RunningServer:
    return await start_server(definition, address=address, authenticator=authenticator, audit_sink=audit)
