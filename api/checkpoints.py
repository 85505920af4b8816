"""SQLite's WAL checkpoints, taken off the commits that would otherwise run them.

By default SQLite copies the write-ahead log back into the database file inside a commit, the
first one after the log reaches 1,000 pages. That commit, and every write queued behind the one
writer lock, waits while the pages are copied: 5-8 ms each time, about one charge in fifty at
bench row B6's pace, one of the stalls behind that row's p99. Here a daemon thread per process
looks at every file database of the process ten times a second and checkpoints the ones whose
log has grown (see below), PASSIVE: it never waits for a reader or a writer and never blocks
one, and at a steady pace the log never reaches the threshold, so no commit checkpoints.

The threshold stays as SQLite's backstop: writers going flat out (row B3) fill the log faster
than the thread empties it and checkpoint in their commits as before. Turning it off there made
those writers' worst latency several times longer: the log grew between the thread's turns and
each checkpoint had that much more to copy.

In a scratch run of 8 threads charging at B6's pace (100 charges a second, hold then capture
with its history row): a hold's p99 went from 4.4-5.5 ms to 0.9-1.3 ms and the slowest from
6.7-8.5 ms to 2.1-4.8 ms; flat out, throughput and the slowest charge stayed as they were.

A file is checkpointed only once its log holds ``MIN_PENDING_FRAMES`` pages not yet copied
back (read from the log's index header, see ``LogIndex.pending_frames``), not at every pass
that finds one. Checkpointing after nearly every call cost row B5 (one TTS call after
another, a history row and a 576 KB audio file each) 1.7 ms of the server's own overhead a
call (6.6 ms against 4.9, rows B1-B5 in three rounds each way), which took it past its 5 ms.
A checkpoint copies pages into the database file and syncs it and the log
(``synchronous=NORMAL`` syncs there and only there); which of the two cost B5 is not settled
(one run with the thread's syncs off was no better). A billed TTS call adds about 23 pages
to the log (its hold and its settlement each rewrite a page of every table and index they
touch: 528 frames for 22 calls, read with ``PRAGMA wal_checkpoint`` with the thread off), so
at B5's pace (a call or two a second) the thread checkpoints every few seconds, and at B6's
(about 90 calls a second) at nearly every pass: about 0.1 ms of CPU a call in its thread.

The thread reads the log's index through a descriptor it opens once per file and keeps
(``LogIndex``). Closing any descriptor of a file drops every POSIX lock the process holds on
it, SQLite's among them (https://sqlite.org/howtocorrupt.html, 2.2): when each pass opened
and closed the index, a request in the middle of its write transaction lost the writer's lock,
another process wrote at the same time, and four processes charging one balance made 101
charges out of 100 (``tests/billing/test_ledger.py``); rows a console had written were also
missing from the test process's reads.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import threading
import time
import weakref
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.1
# A quarter of SQLite's own threshold (1,000 pages): the thread starts well before any commit
# would, and a log this short is no cost to readers.
MIN_PENDING_FRAMES = 250


class Checkpointer:
    """Checkpoints the SQLite files it is given, from one daemon thread per process.

    ``watch(path, owner)`` adds a file for as long as ``owner`` (its ``Database``) lives; the
    thread starts with the first file (again in a forked child, which has no threads) and keeps
    what it opens per file (``Handles``: a connection, opened read-write only, so a file
    removed meanwhile is not made again, and the log's index) until the file is forgotten. A
    pass checkpoints a file whose log holds ``min_frames`` pages not copied back yet, or whose
    count it cannot read.
    """

    def __init__(
        self, interval: float = INTERVAL_SECONDS, min_frames: int = MIN_PENDING_FRAMES
    ) -> None:
        self._interval = interval
        self._min_frames = min_frames
        self._lock = threading.Lock()
        self._owners: dict[str, weakref.WeakSet[object]] = {}
        self._thread_pid: int | None = None

    def watch(self, path: Path, owner: object) -> None:
        key = str(Path(path).resolve())
        with self._lock:
            self._owners.setdefault(key, weakref.WeakSet()).add(owner)
            if self._thread_pid != os.getpid():
                self._thread_pid = os.getpid()
                threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True).start()

    def watched(self) -> list[str]:
        """The files whose owners are alive; the others are forgotten here."""
        with self._lock:
            for key in [key for key, owners in self._owners.items() if not owners]:
                del self._owners[key]
            return list(self._owners)

    def checkpoint_all(self, handles: Handles) -> dict[str, tuple[int, int]]:
        """One PASSIVE checkpoint of every watched file, on ``handles`` (kept by path): for
        each file checkpointed, the frames in its log and how many of them are now copied back
        into the database file. What forgotten files had open is closed."""
        done: dict[str, tuple[int, int]] = {}
        paths = self.watched()
        handles.close_all(keep=paths)
        for path in paths:
            pending = handles.index(path).pending_frames()
            if pending is not None and pending < self._min_frames:
                continue
            try:
                row = handles.connection(path).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                done[path] = (row[1], row[2])  # (busy, frames in the log, frames copied back)
            except sqlite3.Error:
                # Gone, or not a database any more: commits still checkpoint past the threshold.
                logger.debug("could not checkpoint %s", path, exc_info=True)
                handles.drop_connection(path)
        return done

    def _run(self) -> None:
        handles = Handles()
        pid = os.getpid()
        while self._thread_pid == pid:
            time.sleep(self._interval)
            self.checkpoint_all(handles)


class Handles:
    """What the checkpoint thread keeps open per file: a connection and the log's index."""

    def __init__(self) -> None:
        self._connections: dict[str, sqlite3.Connection] = {}
        self._indexes: dict[str, LogIndex] = {}

    def connection(self, path: str) -> sqlite3.Connection:
        if path not in self._connections:
            self._connections[path] = _open(path)
        return self._connections[path]

    def index(self, path: str) -> LogIndex:
        if path not in self._indexes:
            self._indexes[path] = LogIndex(path)
        return self._indexes[path]

    def drop_connection(self, path: str) -> None:
        dropped = self._connections.pop(path, None)
        if dropped is not None:
            dropped.close()  # through SQLite, which keeps its locks (unlike a bare close)

    def close_all(self, keep: list[str] | None = None) -> None:
        """Close what files not in ``keep`` had open (their owners are gone)."""
        kept = set(keep or ())
        for path in [path for path in self._connections if path not in kept]:
            self.drop_connection(path)
        for path in [path for path in self._indexes if path not in kept]:
            self._indexes.pop(path).close()


_INDEX_BYTES = 100  # both header copies and the checkpoint information's first field


class LogIndex:
    """A file's log index (the ``-shm`` file), read through one descriptor kept open.

    Never closed while the process may hold SQLite locks on it: closing any descriptor of a
    file drops all of the process's POSIX locks on that file (see the module). It is closed
    when its file is forgotten (no ``Database`` of the process uses it any more), or when the
    index was removed and made again: the old one, no longer in the directory, is not what
    any connection locks."""

    def __init__(self, path: str) -> None:
        self.path = f"{path}-shm"
        self._descriptor: int | None = None
        self._inode: int | None = None

    def pending_frames(self) -> int | None:
        """How many pages the log holds that are not copied back into the file yet.

        Read from the index as SQLite documents it (https://sqlite.org/walformat.html, "The
        WAL-Index Header"): two copies of the header, in the machine's byte order, with the
        last frame in the log at byte 16; the checkpoint information follows at byte 96,
        starting with the frames already copied back. Read without a lock, so a read that
        catches a writer between the two copies is None (as is a file without an index): the
        caller then checkpoints, as it would have anyway."""
        descriptor = self._descriptor_now()
        if descriptor is None:
            return None
        try:
            index = os.pread(descriptor, _INDEX_BYTES, 0)
        except OSError:
            return None
        if len(index) < _INDEX_BYTES or index[:48] != index[48:96]:
            return None
        (last_frame,) = struct.unpack_from("=I", index, 16)
        (copied_back,) = struct.unpack_from("=I", index, 96)
        return max(last_frame - copied_back, 0)

    def _descriptor_now(self) -> int | None:
        try:
            inode = os.stat(self.path).st_ino  # a stat opens no descriptor
        except OSError:
            return None
        if self._descriptor is not None and inode == self._inode:
            return self._descriptor
        self.close()  # an index removed since: nothing locks that file any more
        try:
            self._descriptor = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        self._inode = os.fstat(self._descriptor).st_ino
        return self._descriptor

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = self._inode = None


def _open(path: str) -> sqlite3.Connection:
    # mode=rw: never creates the file; autocommit, as a checkpoint cannot run in a transaction.
    # timeout=0: a file another connection has locked is skipped until the next pass, instead
    # of holding up every other file's checkpoint for Python's default busy wait of 5 s.
    return sqlite3.connect(
        f"file:{quote(path)}?mode=rw",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
        timeout=0,
    )


checkpointer = Checkpointer()
