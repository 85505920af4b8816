"""What the console state tests share: state trees as Reflex builds them for a websocket whose
handshake carried a real console session cookie, their substates, and the console's
process-wide database and settings pointed at the test's.

The session behind the cookie is made in the test database and resolved by the handlers
exactly as in production (``console.state.session``), so a test signs in as a user, or as
nobody, only through the cookie.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from reflex.istate.data import RouterData
from reflex.state import State

from api.accounts.service import SESSION_COOKIE, create_session
from api.db import Database
from api.settings import Settings


def new_session(db: Database, settings: Settings, user_id: int) -> str:
    """A live console session for ``user_id``: the token its cookie carries."""
    with db.write() as session:
        _, token = create_session(session, user_id=user_id, settings=settings)
    return token


def state_tree(token: str, path: str, *, origin: str = "") -> State:
    """A state tree whose websocket handshake carried session ``token`` ("" for none), opened
    at ``path`` (which may carry a query) from ``origin``."""
    headers = {"cookie": f"{SESSION_COOKIE}={token}" if token else ""}
    if origin:
        headers["origin"] = origin
    root = State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": headers, "pathname": path.partition("?")[0], "asPath": path}
    )
    return root


def signed_in_tree(
    db: Database, settings: Settings, user_id: int | None, path: str, *, origin: str = ""
) -> State:
    """A state tree whose handshake carried a new session of ``user_id`` (None: no session)."""
    token = "" if user_id is None else new_session(db, settings, user_id)
    return state_tree(token, path, origin=origin)


def substate(root: State, cls: Any) -> Any:
    """``cls``'s state in the tree (synchronously: it is already there)."""
    return root.get_substate(cls.get_full_name().split(".")[1:])


async def drain(events: Any) -> list[Any]:
    """Run a handler that yields (it hands back updates as it goes) to its end."""
    return [event async for event in events]


def use_test_database(
    monkeypatch: pytest.MonkeyPatch, db: Database, settings: Settings, *modules: ModuleType
) -> None:
    """The console's process-wide database and settings, as ``modules`` look them up, are the
    test's (a module that looks up only one of them is left with the other)."""
    for module in modules:
        monkeypatch.setattr(module, "get_database", lambda: db, raising=False)
        monkeypatch.setattr(module, "get_settings", lambda: settings, raising=False)
