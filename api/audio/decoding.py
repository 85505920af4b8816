"""Decode uploaded audio of any supported kind to mono 16-bit PCM.

The bytes are probed first (``probe_format``: magic bytes, never the file name). WAV, AIFF,
FLAC, MP3, Ogg Vorbis and Ogg Opus are decoded in-process by libsndfile (soundfile); M4A/MP4,
ADTS AAC, WebM/Matroska and other Ogg codecs go to the ffmpeg subprocess, which also gets a
second try when libsndfile refuses a file it should read (a WAV whose header says 0 bytes of
data, an exotic WAV codec). Channels are averaged to mono.

ffmpeg reads a temporary file rather than a pipe: an M4A whose index (``moov``) sits at the end
of the file, as phones write them, cannot be demuxed from a pipe. The demuxer is forced to the
probed one and only the ``file`` protocol is allowed, so no input can make ffmpeg open a URL or
read another file (HLS playlists, concat lists).

Bad input raises ``UnsupportedMediaError`` (415): empty bytes, garbage, non-audio files (named:
"looks like a ZIP archive"), and files so truncated or corrupt that no audio decodes. A file cut
off mid-stream decodes to the audio that is there, as players do. Audio longer than
``max_seconds`` raises ``InvalidInputError`` with code ``AUDIO_TOO_LONG``; decoding stops as soon
as the limit is passed, and an absolute cap (``MAX_DECODED_SAMPLES``) guards against
decompression bombs when no limit is given.

Opus always decodes at an Opus rate (8/12/16/24/48 kHz). When the Ogg Opus header records a
different original rate (22050 Hz, say: what ``api.audio.encoding`` writes for such requests), the
PCM is resampled back to it, so an Opus file round-trips at the rate it was made for.

Blocking CPU work: callers run ``decode`` off the event loop.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from typing import Final

import numpy as np
import soundfile as sf

from api.audio.ffmpeg import EncoderError, FfmpegProcess, OutputLimitError
from api.audio.formats import describe_non_audio, id3v2_size, opus_input_sample_rate, probe_format
from api.audio.resampling import StreamingResampler
from api.engines.base import Int16Array, Pcm
from api.errors import InvalidInputError, UnsupportedMediaError

logger = logging.getLogger(__name__)

# 2**28 int16 samples = 512 MiB: about 93 minutes at 48 kHz or 4.6 hours at 16 kHz.
MAX_DECODED_SAMPLES: Final = 1 << 28
# Codec delay and padding make a "60 s" MP3 decode to 60.05 s; that should still pass a 60 s cap.
DURATION_SLACK_SECONDS: Final = 0.1
DEFAULT_TIMEOUT_SECONDS: Final = 60.0
_MIN_SOURCE_RATE: Final = 1000
_MAX_SOURCE_RATE: Final = 384_000
_BLOCK_SECONDS: Final = 10

_SOUNDFILE_FORMATS: Final = frozenset({"wav", "aiff", "flac", "mp3", "opus"})
# Demuxer forced for each probed format when ffmpeg decodes.
_FFMPEG_DEMUXERS: Final = {
    "wav": "wav",
    "aiff": "aiff",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "ogg",
    "opus": "ogg",
    "mp4": "mov",
    "aac": "aac",
    "webm": "matroska",
    "matroska": "matroska",
}
SUPPORTED_INPUTS: Final = "WAV, MP3, FLAC, OGG, Opus, M4A/AAC, WebM or AIFF"

_LAYOUT_CHANNELS: Final = {
    "mono": 1,
    "stereo": 2,
    "2.1": 3,
    "3.0": 3,
    "3.0(back)": 3,
    "4.0": 4,
    "quad": 4,
    "quad(side)": 4,
    "3.1": 4,
    "5.0": 5,
    "5.0(side)": 5,
    "4.1": 5,
    "5.1": 6,
    "5.1(side)": 6,
    "6.0": 6,
    "6.1": 7,
    "7.0": 7,
    "7.1": 8,
    "7.1(wide)": 8,
}


@dataclass(frozen=True)
class Decoded:
    """Decoded audio: mono PCM plus what the file was."""

    pcm: Pcm
    format: str  # probe_format's name: "wav", "mp3", "mp4", …
    source_sample_rate: int
    channels: int  # in the file, before the downmix
    duration_seconds: float


class _TooLongError(Exception):
    pass


def decode(
    data: bytes,
    *,
    max_seconds: float | None = None,
    sample_rate: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Decoded:
    """Decode ``data`` to mono int16 PCM, at the file's own rate or at ``sample_rate``."""
    if not data:
        raise UnsupportedMediaError("The audio file is empty.")
    fmt = probe_format(data)
    if fmt is None:
        raise UnsupportedMediaError(_unrecognised_message(data))
    limit = _sample_limit(max_seconds)
    try:
        samples, rate, source_rate, channels = _decode(data, fmt, limit, sample_rate, timeout)
    except _TooLongError:
        raise _too_long(max_seconds) from None
    if len(samples) == 0:
        raise UnsupportedMediaError(
            f"The {fmt.upper()} file contains no audio that can be decoded "
            "(it may be empty, truncated or corrupt)."
        )
    pcm = Pcm(samples, rate)
    if max_seconds is not None and pcm.duration_seconds > max_seconds + DURATION_SLACK_SECONDS:
        raise _too_long(max_seconds)
    return Decoded(pcm, fmt, source_rate, channels, pcm.duration_seconds)


def _unrecognised_message(data: bytes) -> str:
    what = describe_non_audio(data)
    seen = f"This looks like {what}, not audio." if what else "This is not a recognised audio file."
    return f"{seen} Supported formats: {SUPPORTED_INPUTS}."


def _too_long(max_seconds: float | None) -> InvalidInputError:
    if max_seconds is None:
        return InvalidInputError("The audio is too long to process.", code="AUDIO_TOO_LONG")
    return InvalidInputError(
        f"The audio is longer than the limit of {max_seconds:g} seconds.", code="AUDIO_TOO_LONG"
    )


@dataclass(frozen=True)
class _Limit:
    seconds: float | None  # caller's limit plus slack

    def samples(self, rate: int) -> int:
        if self.seconds is None:
            return MAX_DECODED_SAMPLES
        return min(MAX_DECODED_SAMPLES, math.ceil(self.seconds * rate))


def _sample_limit(max_seconds: float | None) -> _Limit:
    if max_seconds is None:
        return _Limit(None)
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    return _Limit(max_seconds + DURATION_SLACK_SECONDS)


def _decode(
    data: bytes, fmt: str, limit: _Limit, sample_rate: int | None, timeout: float
) -> tuple[Int16Array, int, int, int]:
    """(samples, their rate, the file's rate, the file's channels)."""
    use_soundfile = fmt in _SOUNDFILE_FORMATS or (fmt == "ogg" and _is_ogg_vorbis(data))
    if use_soundfile:
        try:
            decoded = _decode_with_soundfile(data, fmt, limit, sample_rate)
        except sf.SoundFileError as error:
            logger.info("libsndfile could not decode %s input (%s); trying ffmpeg", fmt, error)
        else:
            if len(decoded[0]):
                return decoded
    return _decode_with_ffmpeg(data, fmt, limit, sample_rate, timeout)


def _is_ogg_vorbis(data: bytes) -> bool:
    return data[28:35] == b"\x01vorbis"


# --- libsndfile -----------------------------------------------------------------------------------


def _decode_with_soundfile(
    data: bytes, fmt: str, limit: _Limit, sample_rate: int | None
) -> tuple[Int16Array, int, int, int]:
    # libsndfile does not skip an ID3v2 tag in front of FLAC; MP3 keeps it (mpg123 reads it).
    body = data[id3v2_size(data) :] if fmt == "flac" else data
    with sf.SoundFile(io.BytesIO(body)) as audio:
        decoded_rate, channels = audio.samplerate, audio.channels
        if not _MIN_SOURCE_RATE <= decoded_rate <= _MAX_SOURCE_RATE or channels < 1:
            raise UnsupportedMediaError(
                f"The {fmt.upper()} file has an unsupported sample rate or channel count."
            )
        source_rate = decoded_rate
        if fmt == "opus":
            # libsndfile decodes at the Opus rate at or above the rate the header records.
            recorded = opus_input_sample_rate(data)
            if recorded and 8000 <= recorded <= 48000:
                source_rate = recorded
        target_rate = sample_rate or source_rate
        max_samples = limit.samples(target_rate)
        # A stream of unknown length (FLAC from a pipe) reports SF_COUNT_MAX frames.
        known_frames = audio.frames if 0 < audio.frames < 1 << 62 else None
        if known_frames and known_frames / decoded_rate * target_rate > max_samples:
            raise _TooLongError
        resampler = StreamingResampler(target_rate)
        pieces: list[Int16Array] = []
        total = 0
        block_frames = decoded_rate * _BLOCK_SECONDS
        while True:
            block = audio.read(frames=block_frames, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            mono = block.mean(axis=1) if channels > 1 else block[:, 0]
            piece = resampler.push(Pcm(_float_to_int16(mono), decoded_rate)).samples
            pieces.append(piece)
            total += len(piece)
            if total > max_samples:
                raise _TooLongError
        pieces.append(resampler.flush().samples)
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    return samples.astype(np.int16, copy=False), target_rate, source_rate, channels


def _float_to_int16(signal: np.ndarray) -> Int16Array:
    # Float files may exceed ±1.0; clip rather than wrap around.
    return np.clip(np.round(signal * 32768.0), -32768, 32767).astype(np.int16)


# --- ffmpeg ---------------------------------------------------------------------------------


_STREAM_RE: Final = re.compile(r"Stream #0:\d+[^\n]*?: Audio: [^\n]*?(\d+) Hz, ([^,\n]+)")


def _decode_with_ffmpeg(
    data: bytes, fmt: str, limit: _Limit, sample_rate: int | None, timeout: float
) -> tuple[Int16Array, int, int, int]:
    output_options: list[str] = ["-ac", "1"]
    if sample_rate:
        output_options += ["-ar", str(sample_rate)]
    if limit.seconds is not None:
        # Stop decoding just past the limit: enough to know the file is too long.
        output_options += ["-t", f"{limit.seconds + 1:.3f}"]
    max_output = 2 * MAX_DECODED_SAMPLES + 4096
    with tempfile.TemporaryDirectory(prefix="amphion-decode-") as directory:
        path = os.path.join(directory, "input")
        with open(path, "wb") as handle:
            handle.write(data)
        args = [
            *("-protocol_whitelist", "file", "-f", _FFMPEG_DEMUXERS[fmt], "-i", path),
            *("-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1"),
            *output_options,
            *("-c:a", "pcm_s16le", "-f", "wav", "-fflags", "+bitexact", "pipe:1"),
        ]
        process = FfmpegProcess(args, with_stdin=False, loglevel="info")
        try:
            output = process.pump(finish=True, timeout=timeout, max_output=max_output)
        except OutputLimitError:
            raise _TooLongError from None
        except EncoderError as error:
            logger.info("ffmpeg could not decode %s input: %s", fmt, error)
            raise UnsupportedMediaError(
                f"The {fmt.upper()} file could not be decoded in time."
            ) from None
        finally:
            process.kill()
    log = process.stderr_text
    if process.returncode != 0 and not output:
        logger.info("ffmpeg could not decode %s input: %s", fmt, log[-500:])
        raise UnsupportedMediaError(
            f"The {fmt.upper()} file could not be decoded "
            "(it may be truncated, corrupt, or hold no audio track)."
        )
    samples, rate = _parse_wav_stream(output)
    if not _MIN_SOURCE_RATE <= rate <= _MAX_SOURCE_RATE:
        raise UnsupportedMediaError(f"The {fmt.upper()} file has an unsupported sample rate.")
    if len(samples) > limit.samples(rate):
        raise _TooLongError
    source_rate, channels = _stream_info(log, rate)
    return samples, rate, source_rate, channels


def _parse_wav_stream(output: bytes) -> tuple[Int16Array, int]:
    """Samples and rate from ffmpeg's piped WAV (its size fields are placeholders: ignored)."""
    if len(output) < 12 or output[:4] != b"RIFF" or output[8:12] != b"WAVE":
        return np.zeros(0, dtype=np.int16), 0
    position, rate = 12, 0
    while position + 8 <= len(output):
        chunk_id = output[position : position + 4]
        size = struct.unpack_from("<I", output, position + 4)[0]
        body = position + 8
        if chunk_id == b"fmt ":
            rate = struct.unpack_from("<I", output, body + 4)[0]
        elif chunk_id == b"data":
            payload = output[body:]
            payload = payload[: len(payload) - len(payload) % 2]
            return np.frombuffer(payload, dtype="<i2").astype(np.int16), rate
        position = body + size + (size & 1)
    return np.zeros(0, dtype=np.int16), rate


def _stream_info(log: str, fallback_rate: int) -> tuple[int, int]:
    """(sample rate, channels) of the input's first audio stream, from ffmpeg's log."""
    match = _STREAM_RE.search(log)
    if not match:
        return fallback_rate, 1
    layout = match.group(2).strip()
    channels = _LAYOUT_CHANNELS.get(layout)
    if channels is None:
        counted = re.match(r"(\d+) channels", layout)
        channels = int(counted.group(1)) if counted else 1
    return int(match.group(1)), channels


def decode_pcm(data: bytes, sample_rate: int) -> Pcm:
    """Raw 16-bit little-endian mono bytes as PCM (a dialect's ``pcm`` input format)."""
    usable = data[: len(data) - len(data) % 2]
    return Pcm(np.frombuffer(usable, dtype="<i2").astype(np.int16), sample_rate)
