"""The ffmpeg binary as a subprocess: bounded, deadline-checked and deadlock-free.

imageio-ffmpeg ships a static ffmpeg (research/engines.md §4); we use it for what libsndfile
cannot do: decoding M4A/AAC/WebM uploads and encoding AAC, Opus and streamed FLAC. Running it
as a separate process also isolates the server from a demuxer crash on hostile input.

``FfmpegProcess.pump`` is the one loop that talks to it. stdin, stdout and stderr are all
non-blocking and served by one ``selectors`` loop, so ffmpeg can never block us: writing while
ffmpeg waits for us to read its full stdout pipe is the classic pipe deadlock, and a chatty
stderr filling its pipe is the other one. Every call has a deadline, output can be capped, and
the process is killed on close, on error, and (as a last resort) when the object is collected.
Everything here blocks the calling thread: run it off the event loop.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import subprocess
import time
import weakref
from collections.abc import Sequence
from typing import IO, Final

_READ_SIZE: Final = 1 << 16
_STDERR_TAIL: Final = 4096


class EncoderError(RuntimeError):
    """ffmpeg failed on audio we produced ourselves: a bug or a broken install (an HTTP 500)."""


class FfmpegTimeoutError(EncoderError):
    """ffmpeg did not finish within its deadline."""


class OutputLimitError(EncoderError):
    """ffmpeg produced more output than the caller allowed (a decompression bomb, say)."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the static ffmpeg binary shipped by imageio-ffmpeg."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


# Flags every invocation gets: no banner, no interactive keys on stdin, no progress lines, and
# only local files and pipes (an input must never make ffmpeg open a URL).
_COMMON_FLAGS: Final = ("-hide_banner", "-nostdin", "-nostats")


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class FfmpegProcess:
    """One running ffmpeg. ``args`` follow the common flags; pass ``with_stdin`` to feed it."""

    def __init__(self, args: Sequence[str], *, with_stdin: bool = True, loglevel: str = "error"):
        command = [ffmpeg_exe(), *_COMMON_FLAGS, "-loglevel", loglevel, *args]
        self._process: subprocess.Popen[bytes] = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            close_fds=True,
        )
        self._finalizer = weakref.finalize(self, _kill, self._process)
        self._stdin: IO[bytes] | None = self._process.stdin
        self._stdout_open = True
        self._stderr_open = True
        self._stderr_tail = bytearray()
        self._stderr_head = bytearray()
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            if stream is not None:
                os.set_blocking(stream.fileno(), False)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    @property
    def stderr_text(self) -> str:
        """The start and the end of what ffmpeg logged (enough for stream info and the error)."""
        head = bytes(self._stderr_head)
        tail = bytes(self._stderr_tail)
        return (head + (b"\n...\n" if tail else b"") + tail).decode("utf-8", "replace")

    def kill(self) -> None:
        """Stop the process now and release its pipes (idempotent)."""
        self._finalizer()

    def pump(
        self,
        data: bytes | memoryview = b"",
        *,
        finish: bool = False,
        timeout: float = 30.0,
        linger: float = 0.0,
        quiet: float = 0.003,
        max_output: int | None = None,
    ) -> bytes:
        """Write ``data`` to ffmpeg and return the output it produced meanwhile.

        ``finish`` closes stdin and reads to end of output, then reaps the process (check
        ``returncode``). Otherwise, once ``data`` is written, waits up to ``linger`` seconds for
        output, returning as soon as it has been quiet for ``quiet`` seconds: an encoder that is
        handed PCM usually answers within a few milliseconds, and waiting that long is what lets
        the first encoded bytes leave with the first chunk. Raises ``FfmpegTimeoutError`` after
        ``timeout`` seconds and ``OutputLimitError`` past ``max_output`` bytes (killing ffmpeg).
        """
        view = memoryview(data).cast("B")
        written = 0
        output = bytearray()
        deadline = time.monotonic() + timeout
        written_at: float | None = None  # when the last byte of ``data`` went in
        last_output_at: float | None = None
        swept = False
        process = self._process
        if not self._finalizer.alive:
            raise EncoderError("ffmpeg was already stopped")
        if len(view) and self._stdin is None:
            raise EncoderError("ffmpeg's input is already closed")
        with selectors.DefaultSelector() as selector:
            if self._stdout_open and process.stdout is not None:
                selector.register(process.stdout, selectors.EVENT_READ)
            if self._stderr_open and process.stderr is not None:
                selector.register(process.stderr, selectors.EVENT_READ)
            if self._stdin is not None and len(view):
                selector.register(self._stdin, selectors.EVENT_WRITE)
            while True:
                now = time.monotonic()
                writing = written < len(view)
                if not writing:
                    written_at = now if written_at is None else written_at
                    if finish:
                        self._close_stdin(selector)
                if now >= deadline:
                    self.kill()
                    raise FfmpegTimeoutError(f"ffmpeg took longer than {timeout:g} s")
                if writing:
                    wait = deadline - now
                elif finish:
                    if not self._stdout_open:
                        break  # end of output: ffmpeg is done
                    wait = deadline - now
                else:
                    assert written_at is not None
                    until = written_at + linger
                    if last_output_at is not None:
                        # Return once the encoder has gone quiet (capped, in case it never does).
                        until = min(last_output_at + quiet, written_at + linger + 0.5)
                    wait = until - now
                    if not self._stdout_open:
                        break
                    if wait <= 0:
                        if swept:
                            break
                        swept = True  # one last look without waiting, then return
                        wait = 0.0
                if not selector.get_map():
                    break
                for key, _ in selector.select(timeout=max(0.0, min(wait, deadline - now))):
                    if key.fileobj is self._stdin:
                        try:
                            written += os.write(key.fd, view[written : written + _READ_SIZE])
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:
                            self._close_stdin(selector)
                            raise EncoderError(
                                self._failure("ffmpeg closed its input early")
                            ) from None
                        if written >= len(view):
                            selector.unregister(key.fileobj)
                        continue
                    try:
                        chunk = os.read(key.fd, _READ_SIZE)
                    except BlockingIOError:
                        continue
                    if key.fileobj is process.stdout:
                        if not chunk:
                            selector.unregister(key.fileobj)
                            self._stdout_open = False
                            continue
                        output += chunk
                        last_output_at = time.monotonic()
                        if max_output is not None and len(output) > max_output:
                            self.kill()
                            raise OutputLimitError(f"ffmpeg produced more than {max_output} bytes")
                    elif chunk:
                        self._keep_stderr(chunk)
                    else:
                        selector.unregister(key.fileobj)
                        self._stderr_open = False
        if finish:
            # stdout is at end of file, so ffmpeg is exiting; stderr may still hold its last words.
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill()
                raise FfmpegTimeoutError(f"ffmpeg took longer than {timeout:g} s") from None
            self._drain_stderr()
        return bytes(output)

    def _close_stdin(self, selector: selectors.BaseSelector) -> None:
        if self._stdin is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(self._stdin)
        with contextlib.suppress(OSError):
            self._stdin.close()
        self._stdin = None

    def _keep_stderr(self, chunk: bytes) -> None:
        room = _STDERR_TAIL - len(self._stderr_head)
        if room > 0:
            self._stderr_head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._stderr_tail += chunk
            del self._stderr_tail[:-_STDERR_TAIL]

    def _drain_stderr(self) -> None:
        stderr = self._process.stderr
        if stderr is None or not self._stderr_open:
            return
        with contextlib.suppress(OSError):
            while chunk := os.read(stderr.fileno(), _READ_SIZE):
                self._keep_stderr(chunk)

    def _failure(self, what: str) -> str:
        self.kill()
        detail = self.stderr_text.strip().splitlines()
        return f"{what}: {detail[-1]}" if detail else what
