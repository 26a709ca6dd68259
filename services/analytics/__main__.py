"""`python -m services.analytics` runs the analytics service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from services.analytics.server import main

if __name__ == "__main__":
    asyncio.run(main())
