"""One module per dialect or resource; each exposes ``router``."""
