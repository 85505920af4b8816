"""Sample-rate conversion: whole clips (``resample``) and streams (``StreamingResampler``).

Both use libswresample's windowed-sinc resampler through PyAV (see ``api.audio.filters``): the
output has exactly ``round(n * rate / source_rate)`` samples, is aligned with the input (no
added delay), and a stream resampled chunk by chunk matches the clip resampled in one go.
Blocking CPU work: callers run it off the event loop.
"""

from __future__ import annotations

import numpy as np

from api.audio.filters import FilterChain, resample_filter, run_chain
from api.engines.base import Pcm

_MIN_RATE = 1000
_MAX_RATE = 384_000


def _check_rate(rate: int) -> None:
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise ValueError(f"sample rate {rate} Hz is outside {_MIN_RATE}-{_MAX_RATE} Hz")


def resample(pcm: Pcm, rate: int) -> Pcm:
    """``pcm`` at ``rate`` Hz (the same object when it already is)."""
    _check_rate(rate)
    if pcm.sample_rate == rate:
        return pcm
    return run_chain(pcm, [resample_filter(rate)], rate)


class StreamingResampler:
    """Resample a stream chunk by chunk without seams. Chunks at ``rate`` pass straight through;
    a chunk at another rate than the one before flushes the old resampler and starts anew."""

    def __init__(self, rate: int):
        _check_rate(rate)
        self.rate = rate
        self._chain: FilterChain | None = None

    def push(self, pcm: Pcm) -> Pcm:
        pieces = []
        if self._chain is not None and self._chain.input_rate != pcm.sample_rate:
            pieces.append(self._chain.flush())
            self._chain = None
        if pcm.sample_rate == self.rate:
            pieces.append(pcm.samples)
        else:
            if self._chain is None:
                self._chain = FilterChain(pcm.sample_rate, [resample_filter(self.rate)])
            pieces.append(self._chain.push(pcm.samples))
        return Pcm(_concat(pieces), self.rate)

    def flush(self) -> Pcm:
        if self._chain is None:
            return Pcm.empty(self.rate)
        tail = self._chain.flush()
        self._chain = None
        return Pcm(tail, self.rate)


def _concat(pieces: list[np.ndarray]) -> np.ndarray:
    pieces = [piece for piece in pieces if len(piece)]
    if not pieces:
        return np.zeros(0, dtype=np.int16)
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces).astype(np.int16, copy=False)
