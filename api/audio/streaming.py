"""Streaming encoders: PCM chunks in, encoded bytes out as soon as the codec has them.

``open_stream_encoder(fmt, sample_rate)`` gives a ``StreamingEncoder``; ``feed(pcm)`` returns
whatever bytes are ready (possibly none) and ``finish()`` the rest. Chunks may come at any rate;
they are resampled to ``sample_rate`` without seams. Use it as a context manager, or call
``close()``: a stream closed early (the client went away) stops its encoder and leaks nothing.
``encode_stream`` wraps all that as a generator for streaming HTTP responses.

* ``mp3``: lameenc in-process, frame by frame; the first bytes come out of the first ``feed``
  (about 1 ms after it starts, for a sentence-sized chunk). A stream has no LAME Info frame
  (it would have to be written before the frames it describes), so players keep LAME's usual
  ~50 ms of leading silence; ``api.audio.encoding`` files have the frame and no such delay.
* ``pcm``: the samples, passed through.
* ``wav``: a header whose RIFF and data sizes are 0xFFFFFFFF (length unknown: ffmpeg, libsndfile
  and browsers read to the end), then the samples.
* ``opus``, ``aac``, ``flac``: a long-lived ffmpeg process fed through a pipe. Its pipes are
  non-blocking and served by one select loop (``api.audio.ffmpeg``), so a full pipe in either
  direction cannot deadlock. Each ``feed`` waits briefly for the encoder's answer, so the
  first bytes leave with the first chunk (about 20-40 ms after it, process start included):
  at most ``linger`` (50 ms), less for a small chunk (2 ms + 20 ms per second of audio), and
  only until the output goes quiet. Anything later comes with the next ``feed``, ``poll`` or
  ``finish``. Ogg pages are cut every 100 ms of audio, so at most that much lags behind. The
  Opus header's input-rate field is set to ``sample_rate`` as in ``api.audio.encoding``. FLAC
  from a pipe has no total sample count in its STREAMINFO (it is 0, "unknown"), which decoders
  accept.

Blocking work: callers run ``feed``/``finish`` off the event loop (one thread per stream).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from typing import Final

import lameenc

from api.audio.encoding import (
    aac_args,
    check_sample_rate,
    codec_bitrate_kbps,
    codec_sample_rate,
    ffmpeg_encoder_command,
    flac_args,
    new_lame_encoder,
    ogg_first_page_length,
    opus_args,
    patch_opus_input_rate,
    wav_header,
)
from api.audio.ffmpeg import EncoderError, FfmpegProcess
from api.audio.formats import OUTPUT_FORMATS, content_type, is_output_format
from api.audio.resampling import StreamingResampler
from api.engines.base import Int16Array, Pcm
from api.errors import InvalidInputError

DEFAULT_LINGER_SECONDS: Final = 0.05
FIRST_LINGER_SECONDS: Final = 0.3
OGG_PAGE_MS: Final = 100
FINISH_TIMEOUT_SECONDS: Final = 60.0
FEED_TIMEOUT_SECONDS: Final = 30.0
# Long chunks are MP3-encoded this much audio at a time, so their first bytes leave early.
MP3_PIECE_MS: Final = 250


class StreamingEncoder:
    """Base of the streaming encoders: resampling, state, and closing."""

    def __init__(self, fmt: str, sample_rate: int, codec_rate: int | None = None):
        self.format = fmt
        self.sample_rate = sample_rate
        self.content_type = content_type(fmt)
        # The codec may need another rate than the one asked for (Opus at 22050 → 24000).
        self._resampler = StreamingResampler(codec_rate or sample_rate)
        self._finished = False
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The encoder subprocess's id, for encoders that run one."""
        return None

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, pcm: Pcm) -> bytes:
        """Encode a chunk; return the bytes that are ready (possibly empty)."""
        if self._finished or self._closed:
            raise RuntimeError("the stream is already finished")
        try:
            return self._encode(self._resampler.push(pcm).samples)
        except BaseException:
            self.close()
            raise

    def feed_as_ready(self, pcm: Pcm) -> Iterator[bytes]:
        """``feed``, yielding the bytes as soon as there are any (one piece here; MP3 encodes
        a long chunk a piece at a time)."""
        if data := self.feed(pcm):
            yield data

    def finish(self) -> bytes:
        """End of input: return the remaining bytes and release the encoder."""
        if self._finished or self._closed:
            raise RuntimeError("the stream is already finished")
        self._finished = True
        try:
            return self._encode(self._resampler.flush().samples) + self._finish()
        finally:
            self.close()

    def poll(self) -> bytes:
        """Whatever encoded bytes are ready now, without feeding anything or waiting (only an
        ffmpeg-backed encoder ever has some: the others answer within ``feed``)."""
        return b""

    def close(self) -> None:
        """Stop now (idempotent). Anything not yet returned is dropped."""
        self._closed = True

    def __enter__(self) -> StreamingEncoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _encode(self, samples: Int16Array) -> bytes:
        raise NotImplementedError

    def _finish(self) -> bytes:
        return b""


class _PcmStream(StreamingEncoder):
    def _encode(self, samples: Int16Array) -> bytes:
        return samples.astype("<i2", copy=False).tobytes()


class _WavStream(StreamingEncoder):
    def __init__(self, sample_rate: int):
        super().__init__("wav", sample_rate)
        self._header_sent = False

    def _encode(self, samples: Int16Array) -> bytes:
        data = samples.astype("<i2", copy=False).tobytes()
        if self._header_sent:
            return data
        self._header_sent = True
        return wav_header(self.sample_rate, None) + data


class _Mp3Stream(StreamingEncoder):
    def __init__(self, sample_rate: int, bitrate_kbps: int | None):
        codec_rate = codec_sample_rate("mp3", sample_rate)
        super().__init__("mp3", sample_rate, codec_rate)
        bitrate = codec_bitrate_kbps("mp3", codec_rate, bitrate_kbps)
        self._encoder: lameenc.Encoder | None = new_lame_encoder(codec_rate, bitrate)

    def feed_as_ready(self, pcm: Pcm) -> Iterator[bytes]:
        """A long chunk a piece at a time: an engine may hand over seconds of audio at once
        (Piper: a whole sentence), and LAME-encoding 4.5 s of it took about 25 ms before the
        first byte could leave (bench row B9); in pieces, the first bytes leave after one
        piece's. The bytes are the same: LAME buffers across calls. (PCM and WAV cost nothing
        to encode; ffmpeg formats wait on their pipe each feed, so pieces would add waits.)"""
        step = max(1, pcm.sample_rate * MP3_PIECE_MS // 1000)
        for start in range(0, len(pcm.samples), step):
            if data := self.feed(Pcm(pcm.samples[start : start + step], pcm.sample_rate)):
                yield data

    def _encode(self, samples: Int16Array) -> bytes:
        if self._encoder is None or len(samples) == 0:
            return b""
        return bytes(self._encoder.encode(samples.astype("<i2", copy=False).tobytes()))

    def _finish(self) -> bytes:
        return bytes(self._encoder.flush()) if self._encoder is not None else b""

    def close(self) -> None:
        self._encoder = None
        super().close()


class _FfmpegStream(StreamingEncoder):
    def __init__(self, fmt: str, sample_rate: int, bitrate_kbps: int | None, linger: float):
        codec_rate = codec_sample_rate(fmt, sample_rate)
        super().__init__(fmt, sample_rate, codec_rate)
        if fmt == "opus":
            bitrate = codec_bitrate_kbps(fmt, codec_rate, bitrate_kbps)
            output_args = opus_args(bitrate, page_ms=OGG_PAGE_MS)
        elif fmt == "aac":
            output_args = aac_args(codec_bitrate_kbps(fmt, codec_rate, bitrate_kbps))
        else:
            output_args = flac_args()
        self._linger = linger
        # Opus at a rate it lacks: hold the first page back until its header is patched.
        self._patch_opus_rate = fmt == "opus" and codec_rate != sample_rate
        self._held = bytearray()
        self._started = False
        self._process = FfmpegProcess(ffmpeg_encoder_command(codec_rate, output_args))

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _encode(self, samples: Int16Array) -> bytes:
        data = samples.astype("<i2", copy=False).tobytes()
        linger = self._wait_for(samples)
        self._started = True
        output = self._process.pump(data, timeout=FEED_TIMEOUT_SECONDS, linger=linger)
        return self._pass_on(output)

    def _wait_for(self, samples: Int16Array) -> float:
        """How long a feed may wait for the encoder's answer. ffmpeg needs about 20 ms per
        second of audio; a chunk too small to fill a frame gets no answer, and waiting the full
        ``linger`` for each of many small chunks would make the stream fall behind. The first
        feed also waits for ffmpeg to start. The wait ends as soon as the bytes are there."""
        seconds = len(samples) / self._resampler.rate
        if not self._started:
            return min(FIRST_LINGER_SECONDS, 0.15 + 0.02 * seconds)
        return min(self._linger, 0.002 + 0.02 * seconds)

    def poll(self) -> bytes:
        """Whatever encoded bytes are ready now, without feeding anything or waiting."""
        if self._finished or self._closed:
            return b""
        return self._pass_on(self._process.pump(b"", timeout=FEED_TIMEOUT_SECONDS))

    def _finish(self) -> bytes:
        output = self._process.pump(finish=True, timeout=FINISH_TIMEOUT_SECONDS)
        if self._process.returncode != 0:
            raise EncoderError(
                f"ffmpeg failed to encode {self.format}: {self._process.stderr_text[-300:]}"
            )
        tail = self._pass_on(output)
        if self._held:
            raise EncoderError("the Opus stream ended inside its first page")
        return tail

    def _pass_on(self, output: bytes) -> bytes:
        if not self._patch_opus_rate:
            return output
        self._held += output
        if ogg_first_page_length(self._held) is None:
            return b""
        self._patch_opus_rate = False
        patched = patch_opus_input_rate(bytes(self._held), self.sample_rate)
        self._held.clear()
        return patched

    def close(self) -> None:
        self._process.kill()
        super().close()


def open_stream_encoder(
    fmt: str,
    sample_rate: int,
    *,
    bitrate_kbps: int | None = None,
    linger: float = DEFAULT_LINGER_SECONDS,
) -> StreamingEncoder:
    """A streaming encoder of ``fmt`` at ``sample_rate`` (8000-48000 Hz)."""
    if not is_output_format(fmt):
        raise InvalidInputError(
            f"Unsupported audio format {fmt!r}; use one of: {', '.join(OUTPUT_FORMATS)}.",
            param="format",
        )
    check_sample_rate(sample_rate)
    if fmt == "pcm":
        return _PcmStream("pcm", sample_rate)
    if fmt == "wav":
        return _WavStream(sample_rate)
    if fmt == "mp3":
        return _Mp3Stream(sample_rate, bitrate_kbps)
    return _FfmpegStream(fmt, sample_rate, bitrate_kbps, linger)


def encode_stream(
    chunks: Iterable[Pcm], fmt: str, sample_rate: int, *, bitrate_kbps: int | None = None
) -> Generator[bytes, None, None]:
    """Encode ``chunks`` as they come, yielding non-empty byte strings. Closing the generator
    early (a client abort) closes the encoder and ``chunks`` (if it is a generator)."""
    encoder = open_stream_encoder(fmt, sample_rate, bitrate_kbps=bitrate_kbps)
    try:
        for chunk in chunks:
            yield from encoder.feed_as_ready(chunk)
        if data := encoder.finish():
            yield data
    finally:
        encoder.close()
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
