"""A database puts its file in WAL mode once, even while SQLite answers "database is locked"
at once (api.db.enter_wal), and gives up on other errors or when the wait runs out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from api.db import Database, enter_wal, is_busy


def _sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # what the sqlite3 module sets on the errors it raises
    return error


class _Refusing:
    """A cursor whose journal-mode pragma fails ``times`` times first, with ``code``."""

    def __init__(
        self, times: int, code: int = sqlite3.SQLITE_BUSY, message: str = "database is locked"
    ) -> None:
        self.left = times
        self.code = code
        self.message = message
        self.asked = 0

    def execute(self, sql: str) -> None:
        assert sql == "PRAGMA journal_mode=WAL"
        self.asked += 1
        if self.left:
            self.left -= 1
            raise _sqlite_error(self.message, self.code)


def test_a_locked_answer_is_asked_again() -> None:
    cursor = _Refusing(3)
    enter_wal(cursor)  # type: ignore[arg-type]
    assert cursor.asked == 4


def test_other_errors_and_a_lock_that_stays_are_raised() -> None:
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        enter_wal(_Refusing(1, sqlite3.SQLITE_IOERR, "disk I/O error"))  # type: ignore[arg-type]
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enter_wal(_Refusing(10**9), wait_seconds=0.05)  # type: ignore[arg-type]


def test_busy_is_told_by_the_result_code_sqlite_gives(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with sqlite3.connect(path, isolation_level=None) as holder:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        with (
            sqlite3.connect(path, timeout=0) as other,
            pytest.raises(sqlite3.OperationalError) as refused,
        ):
            other.execute("INSERT INTO t VALUES (1)")
        holder.execute("ROLLBACK")
    assert "locked" in str(refused.value) and is_busy(refused.value)
    assert is_busy(_sqlite_error("", 517))  # SQLITE_BUSY_SNAPSHOT: BUSY in the low byte
    assert not is_busy(_sqlite_error("disk I/O error", sqlite3.SQLITE_IOERR))
    assert not is_busy(sqlite3.OperationalError("database is locked"))  # no code: not ours


def test_a_real_file_ends_in_wal_mode(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "a.db") as connection:
        enter_wal(connection.cursor())
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_database_puts_its_file_in_wal_mode_once(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'b.db'}")
    with sqlite3.connect(tmp_path / "b.db") as other:  # no pragma of its own
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with database.read() as session:
        assert session.connection().exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    database.dispose()
