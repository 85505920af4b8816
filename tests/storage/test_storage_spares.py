"""Spare files: objects written into files made ahead, each handed out once, to one process."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.errors import InvalidInputError
from api.storage.keys import new_object_key
from api.storage.local import SPARE_DIRECTORY, LocalObjectStore
from api.storage.spares import LOCK_NAME, SpareFiles
from tests.helpers import wait_until
from tests.storage.conftest import STORE_SECRET

KEEP = 4


def spare_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", STORE_SECRET, spare_files=KEEP)


def spares_of(store: LocalObjectStore) -> dict[int, Path]:
    """The spares waiting on disk, by inode (the lock files left out)."""
    found = (store.root / SPARE_DIRECTORY).glob("*/*")
    return {path.stat().st_ino: path for path in found if not path.name.startswith(".")}


def filled(store: LocalObjectStore) -> LocalObjectStore:
    store.put(new_object_key("tts", "wav"), b"first", "audio/wav")  # starts the pool
    wait_until(lambda: len(spares_of(store)) == KEEP, 10, "the spares")
    return store


def test_a_write_fills_a_spare_and_renames_it_into_place(tmp_path: Path) -> None:
    store = filled(spare_store(tmp_path))
    waiting = spares_of(store)
    key = new_object_key("tts", "wav")

    store.put(key, b"RIFF audio", "audio/wav")

    written = store.root / key
    assert written.stat().st_ino in waiting  # the very file made ahead
    assert store.get(key) == b"RIFF audio"
    assert written.stat().st_mode & 0o777 == 0o644
    assert waiting[written.stat().st_ino].exists() is False
    assert not list(written.parent.glob(".tmp-*"))


def test_the_pool_is_made_again_once_half_of_it_is_gone(tmp_path: Path) -> None:
    store = filled(spare_store(tmp_path))
    used = set()
    for _ in range(KEEP):
        key = new_object_key("tts", "wav")
        store.put(key, b"x", "audio/wav")
        used.add((store.root / key).stat().st_ino)
    wait_until(lambda: len(spares_of(store)) == KEEP, 10, "a refilled pool")
    assert not used & set(spares_of(store))  # no spare is handed out twice


def test_first_calls_at_once_start_one_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.storage import spares as spares_module

    real_locked_folder = spares_module._locked_folder

    def slow_locked_folder(directory: str) -> tuple[str, int]:
        # A pool records its process only once it has its folder: every caller is here at once
        time.sleep(0.05)
        return real_locked_folder(directory)

    monkeypatch.setattr(spares_module, "_locked_folder", slow_locked_folder)
    pools = [SpareFiles(str(tmp_path / "spares"), keep=KEEP)]
    callers = 8
    together = threading.Barrier(callers)
    taken: list[str | None] = []

    def first_use() -> None:
        together.wait()
        taken.append(pools[0].take())

    threads = [threading.Thread(target=first_use) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    folders = [path for path in (tmp_path / "spares").iterdir() if path.is_dir()]
    assert len(folders) == 1  # one folder, one lock held: none left behind by a lost race
    handed_out = [Path(path) for path in taken if path is not None]
    assert len(set(handed_out)) == len(handed_out)  # each spare to one caller
    assert {path.parent for path in handed_out} <= {folders[0]}
    pools.clear()
    gc.collect()
    wait_until(lambda: not folders[0].exists(), 10, "the pool's folder removed with it")


def test_no_key_reaches_the_spares(tmp_path: Path) -> None:
    store = filled(spare_store(tmp_path))
    spare = next(iter(spares_of(store).values()))
    key = spare.relative_to(store.root).as_posix()
    with pytest.raises(InvalidInputError):
        store.get(key)
    with pytest.raises(InvalidInputError):
        store.put(key, b"x", "audio/wav")


def test_a_spare_removed_meanwhile_costs_a_new_file_not_the_write(tmp_path: Path) -> None:
    store = filled(spare_store(tmp_path))
    for spare in spares_of(store).values():
        spare.unlink()
    key = new_object_key("tts", "wav")

    store.put(key, b"still written", "audio/wav")

    assert store.get(key) == b"still written"


def test_a_write_after_its_directory_was_removed_makes_it_again(tmp_path: Path) -> None:
    store = filled(spare_store(tmp_path))
    first, second = new_object_key("tts", "wav"), new_object_key("tts", "wav")
    store.put(first, b"one", "audio/wav")
    directory = (store.root / first).parent
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()  # an operator's clean-up of an old day, after the directory was checked

    store.put(second, b"two", "audio/wav")

    assert store.get(second) == b"two"


def test_a_failed_write_leaves_neither_the_spare_nor_an_object(tmp_path: Path) -> None:
    store = filled(spare_store(tmp_path))
    waiting = set(spares_of(store))
    key = new_object_key("tts", "wav")

    with pytest.raises(RuntimeError):
        store.put_stream(key, _failing_chunks(), "audio/wav")

    assert not store.exists(key)
    assert len(waiting - set(spares_of(store))) == 1  # taken, then removed


def _failing_chunks() -> Iterator[bytes]:
    yield b"half"
    raise RuntimeError("the encoder failed")


def test_a_forked_child_never_gets_its_parents_spares(tmp_path: Path) -> None:
    spares = SpareFiles(str(tmp_path / "spares"), KEEP)
    spares.take()
    wait_until(lambda: spares.ready() == KEEP, 10, "the parent's spares")
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: take one and say which
        try:
            os.write(writer, (spares.take() or "none").encode())
        finally:
            os._exit(0)
    os.close(writer)
    taken_by_child = os.read(reader, 4096).decode()
    os.close(reader)
    os.waitpid(child, 0)

    parents = {spares.take() for _ in range(KEEP)}
    assert taken_by_child == "none"  # a fresh pool of its own, not yet filled
    assert None not in parents and len(parents) == KEEP


POOL_IN_A_PROCESS = """
import os, sys, time
from api.storage.spares import SpareFiles
spares = SpareFiles(sys.argv[1], 2)
spares.take()
while spares.ready() < 2:
    time.sleep(0.01)
print("ready", flush=True)
if sys.argv[2] == "crash":
    os._exit(1)  # no exit hooks: its folder stays behind
sys.stdin.readline()
"""


def pool_process(directory: Path, how: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", POOL_IN_A_PROCESS, str(directory), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def test_a_crashed_processs_spares_go_a_running_ones_stay(tmp_path: Path) -> None:
    directory = tmp_path / "spares"
    running = pool_process(directory, "wait")
    try:
        pool_process(directory, "crash").wait()
        before = {path.name for path in directory.iterdir()}
        assert len(before) == 2

        pool = SpareFiles(str(directory), 2)
        pool.take()  # a new pool starts here

        after = {path.name for path in directory.iterdir()}
        assert len(after & before) == 1  # the running process's folder, with its lock
        kept = directory / (after & before).pop()
        assert (kept / LOCK_NAME).exists() and len(list(kept.iterdir())) == 3
    finally:
        assert running.stdin is not None
        running.stdin.write("\n")
        running.stdin.close()
        running.wait()
    # The process that ended normally took its own folder with it; a pool dropped, its own.
    assert len(list(directory.iterdir())) == 1
    del pool
    gc.collect()
    assert list(directory.iterdir()) == []


def test_a_forked_child_that_ends_leaves_its_parents_folder(tmp_path: Path) -> None:
    spares = SpareFiles(str(tmp_path / "spares"), KEEP)
    spares.take()
    wait_until(lambda: spares.ready() == KEEP, 10, "the parent's spares")
    child = os.fork()
    if child == 0:  # the child ends as an interpreter exits: its finalizers run
        try:
            spares._release()  # type: ignore[misc]  # the parent's, inherited
        finally:
            os._exit(0)
    os.waitpid(child, 0)

    taken = spares.take()
    assert taken is not None and Path(taken).exists()
