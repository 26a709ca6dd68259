"""Test harness shared by every service's tests (never imported by production code)."""
