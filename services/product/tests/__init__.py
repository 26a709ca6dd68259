"""Tests of the product service."""
