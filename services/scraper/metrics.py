"""Business counters of the scraper, exported on /metrics by the service and the crawl worker."""

from __future__ import annotations

from prometheus_client import Counter

from services.scraper.domain import Progress

CRAWL_PAGES = Counter(
    "omnipricex_crawl_pages_total",
    "Pages crawl workers handled, by outcome: fetched, failed, refused (robots.txt, address guard), "
    "delivered (products handed to the competitor service) and quarantined (delivered as suspicious)",
    ["outcome"],
)
CRAWL_JOBS = Counter(
    "omnipricex_crawl_jobs_finished_total", "Crawl jobs that ended, by state and reason", ["state", "reason"]
)


def count_progress(progress: Progress) -> None:
    for outcome, count in (
        ("fetched", progress.pages_fetched),
        ("failed", progress.pages_failed),
        ("refused", progress.pages_refused),
        ("delivered", progress.products_delivered),
        ("quarantined", progress.quarantined),
    ):
        if count:
            CRAWL_PAGES.labels(outcome).inc(count)


def count_finished(state: str, reason: str) -> None:
    CRAWL_JOBS.labels(state, reason or "none").inc()
