"""The scraper service: crawl sources, crawl jobs and extraction (extraction first)."""
