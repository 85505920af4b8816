"""Console states: small, flat substates that translate events into calls to ``api`` services."""
