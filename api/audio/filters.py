"""libavfilter graphs run in-process through PyAV: resampling, tempo and pitch.

PyAV comes with faster-whisper and carries its own libavfilter/libswresample, so resampling
(``aresample``) and WSOLA time-stretching (``atempo``) run inside this process with no ffmpeg
start-up and no pipes. Only our own PCM goes through these graphs (untrusted uploads are decoded
by libsndfile or the ffmpeg subprocess first), so in-process is safe.

A ``FilterChain`` is fed chunk by chunk and keeps its state between chunks, so a stream that is
resampled piecewise has no seams. It is not thread-safe; create one per stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Final

import av
import numpy as np
from av.filter import Graph

from api.engines.base import Int16Array, Pcm

# Push at most this many samples per frame: libavfilter is happiest with modest frames.
_FRAME_SAMPLES: Final = 16384

# libswresample settings for ``aresample``: a longer, steeper Kaiser-windowed sinc than the
# default (32 taps, cutoff 0.97, beta 9) keeps the passband flat to ~0.93 of Nyquist and pushes
# aliasing below about -90 dB, at about 1 ms of CPU per second of audio.
RESAMPLER_OPTIONS: Final = "filter_size=128:cutoff=0.95:kaiser_beta=12"

Filter = tuple[str, str]


def resample_filter(rate: int) -> Filter:
    return ("aresample", f"{rate}:{RESAMPLER_OPTIONS}")


class FilterChain:
    """Mono int16 PCM at ``input_rate`` through ``filters``; output is mono int16 too."""

    def __init__(self, input_rate: int, filters: Sequence[Filter]):
        self.input_rate = input_rate
        self._time_base = Fraction(1, input_rate)
        self._graph = Graph()
        source = self._graph.add_abuffer(
            format="s16", sample_rate=input_rate, layout="mono", time_base=self._time_base
        )
        previous = source
        # The final aformat pins the sink to packed s16 mono whatever the filters prefer.
        for name, arguments in [*filters, ("aformat", "sample_fmts=s16:channel_layouts=mono")]:
            node = self._graph.add(name, arguments)
            previous.link_to(node)
            previous = node
        previous.link_to(self._graph.add("abuffersink"))
        self._graph.configure()
        self._next_pts = 0
        self._flushed = False
        self.output_rate: int | None = None

    def push(self, samples: Int16Array) -> Int16Array:
        """Feed samples; return whatever output is ready."""
        if self._flushed:
            raise RuntimeError("the filter chain was already flushed")
        pieces: list[Int16Array] = []
        for start in range(0, len(samples), _FRAME_SAMPLES):
            block = np.ascontiguousarray(samples[start : start + _FRAME_SAMPLES], dtype=np.int16)
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.input_rate
            frame.time_base = self._time_base
            frame.pts = self._next_pts
            self._next_pts += len(block)
            self._graph.push(frame)
            pieces.extend(self._pull())
        return _join(pieces)

    def flush(self) -> Int16Array:
        """End of input: return the rest of the output."""
        if self._flushed:
            return np.zeros(0, dtype=np.int16)
        self._flushed = True
        self._graph.push(None)
        return _join(list(self._pull()))

    def _pull(self) -> list[Int16Array]:
        pieces: list[Int16Array] = []
        while True:
            try:
                frame = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return pieces
            assert isinstance(frame, av.AudioFrame)
            self.output_rate = frame.sample_rate
            pieces.append(np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1))


def _join(pieces: list[Int16Array]) -> Int16Array:
    if not pieces:
        return np.zeros(0, dtype=np.int16)
    return pieces[0].copy() if len(pieces) == 1 else np.concatenate(pieces)


def run_chain(pcm: Pcm, filters: Sequence[Filter], output_rate: int) -> Pcm:
    """Run the whole of ``pcm`` through ``filters`` (whose output rate is ``output_rate``)."""
    if len(pcm.samples) == 0:
        return Pcm.empty(output_rate)
    chain = FilterChain(pcm.sample_rate, filters)
    head = chain.push(pcm.samples)
    tail = chain.flush()
    return Pcm(np.concatenate([head, tail]) if len(tail) else head, output_rate)
