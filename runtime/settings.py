"""Typed settings for every process, read from OMNIPRICEX_* variables; invalid values stop start-up."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIPRICEX_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".omnipricex")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    # Storage: SQLite files under data_dir unless a MongoDB URI is given.
    mongodb_uri: SecretStr | None = None
    mongodb_database_prefix: str = Field("omnipricex", pattern=r"^[A-Za-z0-9_]{1,32}$")

    # Cache and rate limits: in-process unless a Redis URL is given.
    redis_url: str | None = None
    rate_limit_per_minute: int = Field(1200, ge=1, le=1_000_000)
    # Logins and token refreshes per client address: slows password guessing to a crawl.
    login_attempts_per_minute: int = Field(30, ge=1, le=1_000_000)

    # Credentials. Outside development both secrets must be set; in development they are
    # generated once per data_dir so that every local process shares them.
    jwt_secret: SecretStr | None = None
    bootstrap_token: SecretStr | None = None
    jwt_issuer: str = Field("omnipricex", min_length=1)
    jwt_audience: str = Field("omnipricex-api", min_length=1)
    access_token_ttl_seconds: int = Field(900, ge=30, le=3600)
    refresh_token_ttl_seconds: int = Field(14 * 24 * 3600, ge=300, le=90 * 24 * 3600)
    api_key_cache_seconds: float = Field(10.0, ge=0, le=300)

    # Where each process listens; clients dial the same addresses.
    product_address: str = "127.0.0.1:50051"
    identity_address: str = "127.0.0.1:50052"
    analytics_address: str = "127.0.0.1:50053"
    competitor_address: str = "127.0.0.1:50054"
    pricing_address: str = "127.0.0.1:50055"
    scraper_address: str = "127.0.0.1:50056"
    product_metrics_port: int = Field(9151, ge=0, le=65535)
    identity_metrics_port: int = Field(9152, ge=0, le=65535)
    analytics_metrics_port: int = Field(9153, ge=0, le=65535)
    competitor_metrics_port: int = Field(9154, ge=0, le=65535)
    pricing_metrics_port: int = Field(9155, ge=0, le=65535)
    scraper_metrics_port: int = Field(9156, ge=0, le=65535)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8000, ge=1, le=65535)

    rpc_deadline_seconds: float = Field(5.0, gt=0, le=120)
    # Bulk upserts, CSV import and export move up to tens of thousands of rows in one call.
    long_rpc_deadline_seconds: float = Field(60.0, gt=0, le=900)
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=300)

    # Jobs: Celery on a SQLite file under data_dir unless a broker URL (RabbitMQ) is given.
    broker_url: SecretStr | None = None
    # Hard limit per task, well under RabbitMQ's 30-minute consumer timeout; the soft limit is 90 % of it.
    job_time_limit_seconds: float = Field(900.0, gt=0, le=1500)
    job_max_retries: int = Field(3, ge=0, le=20)
    # A worker holds a job under a lease it renews as it goes; a job whose lease ran out (its worker
    # died) is re-queued by the sweeper, which runs this often.
    job_lease_seconds: float = Field(30.0, ge=1, le=600)
    job_sweep_seconds: float = Field(30.0, ge=1, le=3600)
    # Prefixed to every queue name, so several installations (or test runs) can share one RabbitMQ.
    job_queue_prefix: str = Field("", pattern=r"^([a-z][a-z0-9_-]{0,31})?$")

    # Outbound fetches (crawls, webhooks): hosts ("host" or "host:port") that may be reached even though
    # they resolve to loopback, private, link-local or metadata addresses. Empty outside tests and demos.
    fetch_allow_hosts: list[str] = Field(default_factory=list)
    crawl_user_agent: str = Field(
        "OmniPriceXBot/0.1 (+https://github.com/omnipricex/omnipricex; price monitoring)", min_length=8, max_length=300
    )
    # Largest response body a crawl accepts, after decompression.
    crawl_max_page_bytes: int = Field(5 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    crawl_concurrency_per_domain: int = Field(8, ge=1, le=64)
    crawl_download_delay_seconds: float = Field(0.0, ge=0, le=60)
    crawl_timeout_seconds: float = Field(20.0, gt=0, le=300)
    # Optional outbound proxies ("http://host:port"), rotated per request; an unhealthy proxy rests a while.
    crawl_proxies: list[str] = Field(default_factory=list)
    # The demo competitor shops listen on loopback from this port up, one port per shop.
    demo_shops_base_port: int = Field(8701, ge=1024, le=65000)

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        if self.env == "development":
            return self
        for name in ("jwt_secret", "bootstrap_token"):
            value: SecretStr | None = getattr(self, name)
            if value is None:
                raise ValueError(f"OMNIPRICEX_{name.upper()} must be set when OMNIPRICEX_ENV=production")
            if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(f"OMNIPRICEX_{name.upper()} must be at least {MIN_SECRET_LENGTH} characters")
        return self

    @property
    def storage_engine(self) -> Literal["sqlite", "mongodb"]:
        return "mongodb" if self.mongodb_uri is not None else "sqlite"

    def sqlite_path(self, service: str) -> Path:
        return self.data_dir / f"{service}.sqlite3"

    def broker(self) -> str:
        if self.broker_url is not None:
            return self.broker_url.get_secret_value()
        return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite3').resolve()}"

    def mongodb_database(self, service: str) -> str:
        return f"{self.mongodb_database_prefix}_{service}"

    def require_jwt_secret(self) -> str:
        return self._secret("jwt_secret")

    def require_bootstrap_token(self) -> str:
        return self._secret("bootstrap_token")

    def _secret(self, name: str) -> str:
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value()
        if self.env != "development":  # unreachable after validation; kept as a guard
            raise RuntimeError(f"OMNIPRICEX_{name.upper()} is not set")
        return _development_secret(self.data_dir, name)


def _development_secret(data_dir: Path, name: str) -> str:
    """Read or create a random secret under data_dir/secrets, readable only by its owner.

    The file appears atomically (written aside, then linked into place), so processes starting
    together all read the same complete value.
    """
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    if not path.exists():
        draft = folder / f".{name}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
