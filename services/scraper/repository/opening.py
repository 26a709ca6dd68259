"""Opens the scraper's repositories on the engine settings choose."""

from __future__ import annotations

from runtime.settings import Settings
from runtime.storage.mongo import connect
from services.scraper.repository import Repositories
from services.scraper.repository.mongo import open_mongo_repositories
from services.scraper.repository.sqlite import open_sqlite_repositories

SERVICE = "scraper"


async def open_repositories(settings: Settings) -> Repositories:
    """SQLite under data_dir by default; MongoDB when OMNIPRICEX_MONGODB_URI is set."""
    if settings.mongodb_uri is not None:
        client = connect(settings.mongodb_uri.get_secret_value())
        return await open_mongo_repositories(client[settings.mongodb_database(SERVICE)], close=client.close)
    return await open_sqlite_repositories(settings.sqlite_path(SERVICE))
