"""The Amphion web console: a Reflex app that calls the platform's services in-process.

Reflex imports ``console.console`` (``app_name="console"``). Keep this package's import light:
``rxconfig.py`` imports :mod:`console.styles` and :mod:`console.plugins` before the app exists.
"""
