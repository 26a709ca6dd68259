"""`python -m services.pricing` runs the pricing service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from services.pricing.server import main

if __name__ == "__main__":
    asyncio.run(main())
