"""The Scrapy crawl that runs in a child process of the crawl worker, and what it reports back."""
