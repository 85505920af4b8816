"""Speech engines: protocols (``base``), registry, fakes, offline engines, provider adapters."""
