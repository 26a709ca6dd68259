"""`python -m services.pricing.worker` runs the pricing jobs worker; with `beat`, the pricing scheduler."""

from __future__ import annotations

import sys

from runtime.gc_tuning import tune_for_batches
from runtime.jobs.worker import run_beat, run_worker
from services.pricing.tasks import QUEUE, app


def main(argv: list[str]) -> None:
    tune_for_batches()
    if argv[1:] == ["beat"]:
        run_beat(app)
    elif len(argv) == 1:
        run_worker(app, queues=[QUEUE], concurrency=1)
    else:
        raise SystemExit("usage: python -m services.pricing.worker [beat]")


if __name__ == "__main__":
    main(sys.argv)
