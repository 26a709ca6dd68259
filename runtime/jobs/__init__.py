"""Shared Celery job plumbing: app factory, queues with dead letters, reliable tasks, workers."""
