"""The REST gateway: authenticates, authorises, validates, and translates REST ⇄ gRPC."""
