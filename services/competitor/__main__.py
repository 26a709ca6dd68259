"""`python -m services.competitor` runs the competitor service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from services.competitor.server import main

if __name__ == "__main__":
    asyncio.run(main())
