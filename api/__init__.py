"""Amphion Open Platform: the domain services and the HTTP door."""
