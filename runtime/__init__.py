"""The one shared package: settings, server bootstrap, interceptors, telemetry, storage engines."""
