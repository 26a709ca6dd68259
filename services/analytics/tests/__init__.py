"""Tests of the analytics service."""
