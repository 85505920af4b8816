"""The speech use cases both doors call: synthesize, recognize, analyze, clone."""
