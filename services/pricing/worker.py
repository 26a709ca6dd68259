"""`python -m services.pricing.worker` runs the pricing jobs worker; with `beat`, the pricing scheduler."""

from __future__ import annotations

import gc
import sys

from runtime.jobs.worker import run_beat, run_worker
from services.pricing.tasks import QUEUE, app


def main(argv: list[str]) -> None:
    # A run holds a large, long-lived heap (the scope's products, market and arrays): full collections
    # over it dominated allocation-heavy phases, so start-up objects are frozen and collections are rarer.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    if argv[1:] == ["beat"]:
        run_beat(app)
    elif len(argv) == 1:
        run_worker(app, queues=[QUEUE], concurrency=1)
    else:
        raise SystemExit("usage: python -m services.pricing.worker [beat]")


if __name__ == "__main__":
    main(sys.argv)
