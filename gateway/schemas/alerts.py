"""The REST shape of alert rules, alerts, webhooks and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, field_validator

from gateway.schemas.common import PageQuery, RequestModel, not_nullable

AlertKindName = Literal["undercut", "below_map", "stock_change", "new_product", "price_change", "extraction_broken"]
AlertStateName = Literal["open", "resolved"]
EventTypeName = Literal["alert_fired", "alert_resolved"]
DeliveryEventName = Literal["alert.fired", "alert.resolved", "ping"]
DeliveryStateName = Literal["pending", "delivered", "failed"]
# Up to three digits and two decimals; the service checks the range each kind allows.
ALERT_PERCENT_PATTERN = r"^\d{1,3}(\.\d{1,2})?$"
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_NAME_LENGTH = 120
MAX_DESCRIPTION_LENGTH = 500
MAX_RULE_COMPETITORS = 100
MAX_DEDUP_WINDOW_SECONDS = 30 * 24 * 3600
MAX_URL_LENGTH = 2048


def _percent_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('percentages are decimal strings such as "12.5", not JSON numbers')
    return value


def _kept(value: object) -> object:
    if value is None:
        raise ValueError("cannot be removed (null); leave it out to keep it")
    return value


AlertPercent = Annotated[
    str,
    Field(
        pattern=ALERT_PERCENT_PATTERN,
        description='Decimal percentage as a string (never a JSON number), at most two decimals, e.g. "12.5".',
        examples=["10"],
    ),
    BeforeValidator(_percent_text),
]
DedupWindow = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_DEDUP_WINDOW_SECONDS,
        description="Seconds (up to 30 days). A condition that clears and fires again within this long of the last "
        "notification re-opens the same alert without notifying again.",
    ),
]
_THRESHOLD = (
    "More than 0 and at most 100 for undercut (competitor below our price by more than this) and price_change (a move "
    "of more than this); from 0 to below 100 for below_map (left out: 0, any price under MAP); left out for the other "
    "kinds."
)
_HYSTERESIS = (
    "undercut and below_map only: an open alert resolves once the gap is back to threshold - hysteresis or less. At "
    "most the threshold; left out (or null in a patch): min(1, threshold / 5)."
)


class AlertRule(BaseModel):
    id: str
    name: str
    kind: AlertKindName
    threshold_percent: str | None = Field(description="Null for kinds without a threshold.")
    hysteresis_percent: str | None = Field(description="The band in effect; null for kinds without one.")
    dedup_window_seconds: int
    competitor_ids: list[str] = Field(description="Empty: every competitor.")
    category_id: str | None = Field(description="new_product only: the category watched.")
    enabled: bool
    create_time: datetime
    update_time: datetime


class AlertRulePage(BaseModel):
    items: list[AlertRule] = Field(description="Oldest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class NewAlertRule(RequestModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    kind: AlertKindName
    threshold_percent: AlertPercent | None = Field(None, description=_THRESHOLD, json_schema_extra=not_nullable)
    hysteresis_percent: AlertPercent | None = Field(None, description=_HYSTERESIS, json_schema_extra=not_nullable)
    dedup_window_seconds: DedupWindow | None = Field(
        None, description="Left out: 21,600 (6 hours).", json_schema_extra=not_nullable
    )
    competitor_ids: list[str] = Field(
        default_factory=list, max_length=MAX_RULE_COMPETITORS, description="Only these competitors; empty: all."
    )
    category_id: str | None = Field(
        None, description="Required for new_product, refused for the other kinds.", json_schema_extra=not_nullable
    )
    enabled: bool = True

    @field_validator("threshold_percent", "hysteresis_percent", "dedup_window_seconds", "category_id", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave it out instead")
        return value


class AlertRulePatch(RequestModel):
    """JSON merge patch: only the fields present change; null puts hysteresis_percent and dedup_window_seconds back
    to their defaults. The kind never changes. Disabling a rule resolves its open alerts."""

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME_LENGTH, json_schema_extra=not_nullable)
    threshold_percent: AlertPercent | None = Field(None, json_schema_extra=not_nullable)
    hysteresis_percent: AlertPercent | None = Field(None, description="null: the default band.")
    dedup_window_seconds: DedupWindow | None = Field(None, description="null: the default, 6 hours.")
    competitor_ids: list[str] | None = Field(None, max_length=MAX_RULE_COMPETITORS, json_schema_extra=not_nullable)
    category_id: str | None = Field(None, json_schema_extra=not_nullable)
    enabled: bool | None = Field(None, json_schema_extra=not_nullable)

    @field_validator("name", "threshold_percent", "competitor_ids", "category_id", "enabled", mode="before")
    @classmethod
    def _fields_not_null(cls, value: object) -> object:
        return _kept(value)


class Alert(BaseModel):
    id: str
    rule_id: str
    kind: AlertKindName
    state: AlertStateName = Field(
        description="open while the condition holds; price_change and new_product alerts are resolved as they fire."
    )
    subject: str = Field(description="The offer id; the product URL for new_product; the source id for extraction.")
    competitor_id: str
    sku: str | None
    offer_id: str | None
    source_id: str | None
    url: str | None
    message: str = Field(examples=["Shop X sells SKU-1 at 84.04 EUR, 12.3 % below our 95.80 EUR"])
    price: str | None = Field(description="The competitor's price, a decimal string in `currency`.")
    reference_price: str | None = Field(
        description="What it was compared with: our price (undercut), our MAP (below_map), the price before "
        "(price_change)."
    )
    currency: str | None
    first_seen_time: datetime
    last_seen_time: datetime = Field(description="The latest time the condition was seen firing.")
    resolve_time: datetime | None
    occurrences: int = Field(description="How many times the condition fired into this alert.")


class AlertPage(BaseModel):
    items: list[Alert] = Field(description="Newest first.")
    next_cursor: str | None


class AlertQuery(PageQuery):
    state: AlertStateName | None = None
    kind: AlertKindName | None = None
    rule_id: str | None = Field(None, pattern=ID_PATTERN, description="Only this rule's alerts.")


class Webhook(BaseModel):
    id: str
    url: str
    description: str
    alert_kinds: list[AlertKindName] = Field(description="Empty: every kind.")
    event_types: list[EventTypeName] = Field(description="Empty: both. Pings always go through.")
    active: bool
    create_time: datetime
    update_time: datetime


class CreatedWebhook(Webhook):
    secret: str = Field(
        description="Shown only now: every delivery carries X-OmniPriceX-Signature: t=<unix seconds>,v1=<hex "
        "HMAC-SHA256 of '<t>.<raw body>' with this secret>."
    )


class WebhookPage(BaseModel):
    items: list[Webhook] = Field(description="Oldest first.")
    next_cursor: str | None


class NewWebhook(RequestModel):
    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="http or https. Loopback, private, link-local and metadata addresses are refused unless an "
        "operator allow-listed the host; names are checked as they resolve, at every delivery.",
    )
    description: str = Field("", max_length=MAX_DESCRIPTION_LENGTH)
    alert_kinds: list[AlertKindName] = Field(default_factory=list, description="Only these kinds; empty: all.")
    event_types: list[EventTypeName] = Field(default_factory=list, description="Only these events; empty: both.")
    active: bool = True


class WebhookPatch(RequestModel):
    """JSON merge patch: only the fields present change. The secret never changes."""

    url: str | None = Field(None, min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra=not_nullable)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_LENGTH, json_schema_extra=not_nullable)
    alert_kinds: list[AlertKindName] | None = Field(None, json_schema_extra=not_nullable)
    event_types: list[EventTypeName] | None = Field(None, json_schema_extra=not_nullable)
    active: bool | None = Field(None, json_schema_extra=not_nullable)

    @field_validator("url", "description", "alert_kinds", "event_types", "active", mode="before")
    @classmethod
    def _fields_not_null(cls, value: object) -> object:
        return _kept(value)


class DeliveryAttempt(BaseModel):
    time: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null when no response came.")
    error: str | None
    duration_ms: int


class WebhookDelivery(BaseModel):
    id: str = Field(description="Also sent as X-OmniPriceX-Delivery: receivers drop a delivery they already have.")
    webhook_id: str
    event_id: str
    event_type: DeliveryEventName
    alert_id: str | None
    state: DeliveryStateName = Field(
        description="pending until a 2xx answer (delivered) or until retries after 10 s, 1 min, 5 min, 30 min and "
        "2 h (each ±20 %) are used up or the destination is refused (failed)."
    )
    attempts: list[DeliveryAttempt]
    next_attempt_time: datetime | None
    create_time: datetime
    finish_time: datetime | None
    body: str = Field(description="The JSON body posted, exactly as signed.")


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDelivery] = Field(description="Newest first.")
    next_cursor: str | None


class DeliveryQuery(PageQuery):
    state: DeliveryStateName | None = None
