"""`python -m services.product` runs the product service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from services.product.server import main

if __name__ == "__main__":
    asyncio.run(main())
