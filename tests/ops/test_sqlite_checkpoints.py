"""SQLite's log is copied back into the database file by a thread of its own
(api.checkpoints), so no commit has to: a file is watched while its owner (a Database) lives,
a removed file is never made again, a short log is left for later (checkpointing after every
few calls slowed them), and every Database's file is checkpointed by the process's thread."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from api.checkpoints import MIN_PENDING_FRAMES, Checkpointer, Handles, LogIndex, checkpointer
from api.db import Database


class _Owner:
    """What keeps a file watched (a ``Database`` in the app)."""


def _writer(path: Path) -> sqlite3.Connection:
    """A connection that never checkpoints itself (and, open, keeps the log from being removed
    as the last connection to a file closes)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
    return connection


def _write(writer: sqlite3.Connection, commits: int) -> None:
    for number in range(commits):
        writer.execute("INSERT INTO notes VALUES (?)", (f"note {number}",))


def _write_pages(writer: sqlite3.Connection, pages: int) -> None:
    """About ``pages`` pages of log in one transaction (a row of most of a page each)."""
    writer.execute("BEGIN")
    for _ in range(pages):
        writer.execute("INSERT INTO notes VALUES (?)", ("x" * 3000,))
    writer.execute("COMMIT")


def _log_restarts(path: Path) -> int:
    """The log's checkpoint sequence number (bytes 12-15 of its header): SQLite adds one each
    time a writer starts the log over, which it does only after a complete checkpoint."""
    header = Path(f"{path}-wal").read_bytes()[:16]
    return int.from_bytes(header[12:16], "big")


def _another_process_can_write(path: Path) -> bool:
    """Whether a second process gets the write lock at once (or finds the file locked)."""
    code = (
        "import sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "try:\n"
        "    connection.execute('BEGIN IMMEDIATE')\n"
        "except sqlite3.OperationalError as error:\n"
        "    print('locked' if 'locked' in str(error) else error)\n"
        "else:\n"
        "    print('written')\n"
    )
    outcome = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert outcome in ("locked", "written"), outcome
    return outcome == "written"


# All but the last use files no Database opened, so the process's own thread never sees them.


def test_a_pass_keeps_the_locks_this_process_holds(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
    own among them (https://sqlite.org/howtocorrupt.html, 2.2). A pass that opened and closed
    the log's index to read it released a writer's lock in the middle of its transaction:
    another process then wrote at the same time, and four processes charging one balance made
    101 charges out of 100."""
    path = tmp_path / "app.db"
    writer = _writer(path)
    _write(writer, 1)
    watcher, owner = Checkpointer(min_frames=10_000), _Owner()  # reads the index only
    watcher.watch(path, owner)
    handles = Handles()
    writer.execute("BEGIN IMMEDIATE")  # this process holds the one writer's lock
    writer.execute("INSERT INTO notes VALUES ('in flight')")
    assert not _another_process_can_write(path)

    for _ in range(3):
        assert watcher.checkpoint_all(handles) == {}
        assert not _another_process_can_write(path)

    writer.execute("COMMIT")
    assert _another_process_can_write(path)
    writer.close()
    handles.close_all()


def test_a_pass_copies_the_whole_log_back(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    writer = _writer(path)
    _write(writer, 40)
    watcher, owner = Checkpointer(min_frames=1), _Owner()
    watcher.watch(path, owner)
    handles = Handles()

    done = watcher.checkpoint_all(handles)
    left = handles.index(str(path.resolve())).pending_frames()

    writer.close()
    handles.close_all()
    frames, copied = done[str(path.resolve())]
    assert frames >= 40 and copied == frames
    assert left == 0


def test_the_pending_pages_are_read_from_the_log_index(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    writer = _writer(path)
    index = LogIndex(str(path))
    _write(writer, 1)
    start = index.pending_frames()
    _write(writer, 30)
    after_30 = index.pending_frames()
    _write_pages(writer, 100)
    after_100_more = index.pending_frames()
    writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    after_checkpoint = index.pending_frames()
    writer.close()
    index.close()

    assert start is not None and after_30 is not None and after_100_more is not None
    assert after_30 - start == 30  # one page a commit of a short row
    assert after_100_more - after_30 >= 100
    assert after_checkpoint == 0
    assert LogIndex(str(tmp_path / "never.db")).pending_frames() is None  # no index: unknown


def test_a_short_log_waits_for_a_later_pass(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    writer = _writer(path)
    watcher, owner = Checkpointer(min_frames=50), _Owner()
    watcher.watch(path, owner)
    handles = Handles()
    _write(writer, 10)

    short = watcher.checkpoint_all(handles)
    _write_pages(writer, 60)
    long_enough = watcher.checkpoint_all(handles)

    writer.close()
    handles.close_all()
    assert short == {}
    frames, copied = long_enough[str(path.resolve())]
    assert frames >= 70 and copied == frames


HOLD_EXCLUSIVELY = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA locking_mode=EXCLUSIVE")
connection.execute("BEGIN EXCLUSIVE")
connection.execute("INSERT INTO notes VALUES ('held')")
print("held", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


def test_a_locked_file_is_skipped_without_waiting_and_checkpointed_later(tmp_path: Path) -> None:
    """The one thread serves every file of the process: it must not sit in a busy wait (5 s by
    Python's default) on a file another process has locked."""
    path = tmp_path / "app.db"
    writer = _writer(path)
    _write(writer, 40)
    writer.close()
    watcher, owner = Checkpointer(min_frames=1), _Owner()
    watcher.watch(path, owner)
    handles = Handles()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_EXCLUSIVELY, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert watcher.checkpoint_all(handles) == {}  # locked: nothing done, nothing waited for
        connection = handles.connection(str(path.resolve()))
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait()

    done = watcher.checkpoint_all(handles)  # free again: checkpointed at the next pass
    handles.close_all()
    assert str(path.resolve()) in done


def test_a_file_is_watched_while_its_owner_lives(tmp_path: Path) -> None:
    _writer(tmp_path / "app.db").close()
    watcher, owner = Checkpointer(), _Owner()
    watcher.watch(tmp_path / "app.db", owner)
    assert watcher.watched() == [str((tmp_path / "app.db").resolve())]

    del owner
    gc.collect()

    assert watcher.watched() == []


def test_a_removed_file_is_not_made_again(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _writer(path).close()
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    watcher, owner = Checkpointer(), _Owner()
    watcher.watch(path, owner)

    assert watcher.checkpoint_all(Handles()) == {}
    assert list(tmp_path.iterdir()) == []


def test_the_process_thread_checkpoints_what_no_commit_did(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    database = Database(f"sqlite:///{path}")
    assert str(path.resolve()) in checkpointer.watched()
    writer = _writer(path)
    _write_pages(writer, MIN_PENDING_FRAMES + 20)
    before = _log_restarts(path)

    # The next commit starts the log over once the thread has copied all of it back.
    deadline = time.monotonic() + 10
    while _log_restarts(path) == before and time.monotonic() < deadline:
        time.sleep(0.05)
        _write(writer, 1)

    restarted = _log_restarts(path) != before
    writer.close()
    assert restarted
    with database.read() as session:  # and nothing was lost on the way
        rows = session.execute(text("SELECT count(*) FROM notes")).scalar()
        assert rows is not None and rows >= MIN_PENDING_FRAMES + 21
