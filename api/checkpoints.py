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
back (read from the log's index header, see ``pending_frames``), not at every pass that finds
one. Checkpointing after nearly every call cost row B5 (one TTS call after another, a history
row and a 576 KB audio file each) 1.7 ms of the server's own overhead a call (6.6 ms against
4.9, rows B1-B5 in three rounds each way), which took it past its 5 ms. A checkpoint copies
pages into the database file and syncs it and the log (``synchronous=NORMAL`` syncs there
and only there); which of the two cost B5 is not settled (one run with the thread's syncs
off was no better). A hosted or TTS call adds two or three pages, so at B6's pace the thread
now checkpoints about once a second, still far below the threshold; at B5's it never does.
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
    one connection per file, opened read-write only: a file removed meanwhile is not made again.
    A pass checkpoints a file whose log holds ``min_frames`` pages not copied back yet, or
    whose count it cannot read.

    Kept, not opened for each pass: a connection opened and closed ten times a second broke
    the console's end-to-end tests reproducibly (rows the console had written were missing
    when the test process read the same file), for a reason not found yet.
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

    def checkpoint_all(
        self, connections: dict[str, sqlite3.Connection]
    ) -> dict[str, tuple[int, int]]:
        """One PASSIVE checkpoint of every watched file, on ``connections`` (kept by path):
        for each file checkpointed, the frames in its log and how many of them are now copied
        back into the database file."""
        done: dict[str, tuple[int, int]] = {}
        paths = self.watched()
        for path in [path for path in connections if path not in paths]:
            connections.pop(path).close()
        for path in paths:
            pending = pending_frames(path)
            if pending is not None and pending < self._min_frames:
                continue
            try:
                connection = connections.get(path)
                if connection is None:
                    connection = connections[path] = _open(path)
                row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                done[path] = (row[1], row[2])  # (busy, frames in the log, frames copied back)
            except sqlite3.Error:
                # Gone, or not a database any more: commits still checkpoint past the threshold.
                logger.debug("could not checkpoint %s", path, exc_info=True)
                dropped = connections.pop(path, None)
                if dropped is not None:
                    dropped.close()
        return done

    def _run(self) -> None:
        connections: dict[str, sqlite3.Connection] = {}
        pid = os.getpid()
        while self._thread_pid == pid:
            time.sleep(self._interval)
            self.checkpoint_all(connections)


_INDEX_BYTES = 100  # both header copies and the checkpoint information's first field


def pending_frames(path: str) -> int | None:
    """How many pages ``path``'s log holds that are not copied back into the file yet.

    Read from the log's index (the ``-shm`` file) as SQLite documents it
    (https://sqlite.org/walformat.html, "The WAL-Index Header"): two copies of the header, in
    the machine's byte order, with the last frame in the log at byte 16; the checkpoint
    information follows at byte 96, starting with the frames already copied back. Read
    without a lock, so a read that catches a writer between the two copies is None (as is a
    file without an index): the caller then checkpoints, as it would have anyway."""
    try:
        descriptor = os.open(f"{path}-shm", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        index = os.pread(descriptor, _INDEX_BYTES, 0)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    if len(index) < _INDEX_BYTES or index[:48] != index[48:96]:
        return None
    (last_frame,) = struct.unpack_from("=I", index, 16)
    (copied_back,) = struct.unpack_from("=I", index, 96)
    return max(last_frame - copied_back, 0)


def _open(path: str) -> sqlite3.Connection:
    # mode=rw: never creates the file; autocommit, as a checkpoint cannot run in a transaction.
    return sqlite3.connect(
        f"file:{quote(path)}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
    )


checkpointer = Checkpointer()
