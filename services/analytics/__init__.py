"""The analytics service: the sales ledger of order lines and the daily demand drawn from it."""
