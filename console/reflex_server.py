"""``python -m console.reflex_server …``: Reflex's own command line, with its granian server
replacing a worker that dies.

Reflex 0.10 builds its production server itself (``reflex.utils.exec.run_granian_backend_prod``:
``granian.server.Server(...)`` with the target, address, workers and logging, nothing else) and
has no setting for granian's other options. Left so, one worker killed by the OOM killer or a
crash in an engine's native code stops the whole console: granian's supervisor shuts every
worker down when one fails and respawning is off. This passes the console's server the same
options as ``amphion serve --api-only`` passes its own, ``api.http.shutdown.GRANIAN_OPTIONS``
(respawn a dead worker; end one still flushing a cut stream after the kill time), where why
and what they leave to the sweeper is told once.

Reflex imports ``Server`` from ``granian.server`` when it starts the backend, after this module
has put the subclass there; every other granian option stays as Reflex sets it.
"""

from __future__ import annotations

from typing import Any

import granian.server

from api.http.shutdown import GRANIAN_OPTIONS


class ConsoleServer(granian.server.Server):  # type: ignore[misc, valid-type]
    """granian's server with our ``GRANIAN_OPTIONS`` (what the caller passes wins)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**GRANIAN_OPTIONS, **kwargs})


def install_server_defaults() -> None:
    """Make ``granian.server.Server`` the ``ConsoleServer`` for whoever imports it next."""
    granian.server.Server = ConsoleServer


def main() -> None:
    install_server_defaults()
    from reflex.reflex import cli

    cli()


if __name__ == "__main__":
    main()
