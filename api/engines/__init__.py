"""Speech engines: protocols (``base``), a registry, fakes, offline engines and provider adapters."""
