"""`python -m services.scraper` runs the scraper service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from services.scraper.server import main

if __name__ == "__main__":
    asyncio.run(main())
