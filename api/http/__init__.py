"""The HTTP door: ``create_api()`` and the routes of each dialect, thin over the domain services."""
