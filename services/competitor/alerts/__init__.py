"""Competitor alerts: rules per organisation, alerts with anti-flap, and signed webhook deliveries.

The market's events (services.competitor.market_events) go to the AlertEngine, which judges them
against the organisation's rules (domain, no I/O) and stores alerts and their webhook deliveries
together (repository, SQLite or MongoDB); the DeliveryWorker posts the deliveries in the background.
"""
