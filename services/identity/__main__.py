"""`python -m services.identity` runs the identity service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from services.identity.server import main

if __name__ == "__main__":
    asyncio.run(main())
