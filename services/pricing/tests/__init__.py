"""Tests of the pricing service."""
