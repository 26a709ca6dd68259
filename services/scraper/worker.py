"""`python -m services.scraper.worker` runs the crawl worker; with `beat`, the crawl scheduler and sweeper."""

from __future__ import annotations

import sys

from runtime.jobs.worker import run_beat, run_worker
from services.scraper.tasks import QUEUE, app

# Each crawl runs in its own child process; two at once keep both cores busy without starving services.
CONCURRENT_CRAWLS = 2


def main(argv: list[str]) -> None:
    if argv[1:] == ["beat"]:
        run_beat(app)
    elif len(argv) == 1:
        run_worker(app, queues=[QUEUE], concurrency=CONCURRENT_CRAWLS)
    else:
        raise SystemExit("usage: python -m services.scraper.worker [beat]")


if __name__ == "__main__":
    main(sys.argv)
