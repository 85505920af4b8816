"""Encode mono int16 PCM to the output formats: mp3, wav, pcm, opus, aac, flac.

How each is made, and at what rate:

* ``mp3``: lameenc (LAME 3.100), CBR, at the requested rate (LAME supports 8-48 kHz; a rate it
  lacks is raised to the next one it has). The file starts with a LAME "Info" frame carrying the
  encoder delay and padding, so gapless decoders (ffmpeg, mpg123/libsndfile, browsers) return
  exactly the samples that went in rather than ~50 ms of extra silence.
* ``wav``: a 44-byte RIFF header (PCM, 16-bit, mono) and the samples.
* ``pcm``: the raw samples, 16-bit little-endian mono, no header.
* ``opus``: Ogg Opus through ffmpeg's libopus. Opus runs only at 8/12/16/24/48 kHz, so 22050
  and 44100 Hz are encoded at 24000 and 48000 Hz, and the Ogg Opus header's "input sample rate"
  field (RFC 7845 §5.1) is set to the rate that was asked for. That field is what the container
  has to say about the rate: players always decode Opus at 48 kHz (ffmpeg does), libsndfile at
  the Opus rate at or above it, and ``api.audio.decoding`` resamples back to it.
* ``aac``: AAC-LC in an ADTS stream (ffmpeg's native encoder); the ADTS header carries the rate.
  ADTS cannot signal the encoder's 1024-sample priming, so decoders return that much extra
  silence up front (21 ms at 48 kHz, 128 ms at 8 kHz).
* ``flac``: libsndfile (soundfile), lossless, in-process.

Blocking CPU work: callers run ``encode`` off the event loop.
"""

from __future__ import annotations

import bisect
import io
import struct
from typing import Final

import lameenc
import numpy as np
import soundfile as sf

from api.audio.ffmpeg import EncoderError, FfmpegProcess
from api.audio.formats import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    OUTPUT_FORMATS,
    is_output_format,
    mpeg_frame_length,
)
from api.audio.resampling import resample
from api.engines.base import Pcm
from api.errors import InvalidInputError

LAME_RATES: Final = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
OPUS_RATES: Final = (8000, 12000, 16000, 24000, 48000)
AAC_RATES: Final = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

# LAME's encoder delay in samples (the decoder adds its own 529, which the tag does not count).
LAME_ENCODER_DELAY: Final = 576
LAME_QUALITY: Final = 2  # 2 = best, 7 = fastest; 2 still encodes ~180x faster than real time

_MPEG1_LAYER3_KBPS: Final = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_LAYER3_KBPS: Final = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


def encode(
    pcm: Pcm, fmt: str, *, sample_rate: int | None = None, bitrate_kbps: int | None = None
) -> bytes:
    """``pcm`` as a complete file of ``fmt`` at ``sample_rate`` (default: the PCM's own rate).

    ``bitrate_kbps`` applies to mp3, opus and aac (a default suited to speech at the rate is
    used otherwise, see ``default_bitrate_kbps``) and is snapped to what the codec allows.
    """
    if not is_output_format(fmt):
        raise InvalidInputError(
            f"Unsupported audio format {fmt!r}; use one of: {', '.join(OUTPUT_FORMATS)}.",
            param="format",
        )
    rate = check_sample_rate(sample_rate or pcm.sample_rate)
    if len(pcm.samples) == 0 and fmt in ("flac", "opus"):
        # libsndfile writes no bytes at all for zero samples, and an Ogg Opus file with headers
        # only will not open in ffmpeg: one silent sample makes a valid, empty-sounding file.
        pcm = Pcm(np.zeros(1, dtype=np.int16), pcm.sample_rate)
    if fmt == "pcm":
        return resample(pcm, rate).to_bytes()
    if fmt == "wav":
        samples = resample(pcm, rate)
        return wav_header(rate, len(samples.samples) * 2) + samples.to_bytes()
    if fmt == "flac":
        return _encode_flac(resample(pcm, rate))
    codec_rate = codec_sample_rate(fmt, rate)
    bitrate = codec_bitrate_kbps(fmt, codec_rate, bitrate_kbps)
    source = resample(pcm, codec_rate)
    if fmt == "mp3":
        return encode_mp3(source, bitrate)
    timeout = 30.0 + source.duration_seconds
    if fmt == "opus":
        encoded = _run_ffmpeg_encoder(source, opus_args(bitrate), timeout)
        return patch_opus_input_rate(encoded, rate) if rate != codec_rate else encoded
    return _run_ffmpeg_encoder(source, aac_args(bitrate), timeout)


def check_sample_rate(rate: int) -> int:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InvalidInputError(
            f"sample_rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz",
            param="sample_rate",
        )
    return rate


def codec_sample_rate(fmt: str, rate: int) -> int:
    """The rate the codec of ``fmt`` runs at for a requested ``rate``: the rate itself when the
    codec supports it, else the next rate up that it does."""
    rates = {"mp3": LAME_RATES, "opus": OPUS_RATES, "aac": AAC_RATES}.get(fmt)
    if rates is None or rate in rates:
        return rate
    index = bisect.bisect_left(rates, rate)
    return rates[min(index, len(rates) - 1)]


def default_bitrate_kbps(fmt: str, rate: int) -> int:
    """Bitrates that keep mono speech clean at each rate without wasting bytes."""
    steps = {
        "mp3": ((8000, 32), (16000, 48), (24000, 64), (48000, 96)),
        "opus": ((8000, 16), (16000, 24), (24000, 32), (48000, 48)),
        "aac": ((8000, 24), (16000, 32), (24000, 48), (48000, 64)),
    }[fmt]
    for upto, kbps in steps:
        if rate <= upto:
            return kbps
    return steps[-1][1]


def codec_bitrate_kbps(fmt: str, rate: int, requested: int | None) -> int:
    """``requested`` (or the default) snapped into the range the codec accepts at ``rate``."""
    kbps = requested if requested is not None else default_bitrate_kbps(fmt, rate)
    if fmt == "mp3":
        allowed = _MPEG1_LAYER3_KBPS if rate >= 32000 else _MPEG2_LAYER3_KBPS
        return min(allowed, key=lambda option: (abs(option - kbps), option))
    if fmt == "opus":
        return max(6, min(256, kbps))
    # AAC frames hold at most 6144 bits per channel: 6 bits per sample.
    return max(8, min(6 * rate // 1000, kbps))


# --- WAV and FLAC -----------------------------------------------------------------------------

STREAMING_SIZE: Final = 0xFFFFFFFF


def wav_header(rate: int, data_bytes: int | None) -> bytes:
    """A 44-byte header for 16-bit mono PCM. ``data_bytes=None`` writes 0xFFFFFFFF as both
    sizes, the convention for a WAV stream of unknown length (ffmpeg and libsndfile read such a
    file to its end)."""
    riff = STREAMING_SIZE if data_bytes is None else 36 + data_bytes
    data = STREAMING_SIZE if data_bytes is None else data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def _encode_flac(pcm: Pcm) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, pcm.samples, pcm.sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


# --- MP3 --------------------------------------------------------------------------------------


def new_lame_encoder(rate: int, bitrate_kbps: int) -> lameenc.Encoder:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(rate)
    # Without this LAME picks its own output rate for low bitrates (24 kHz in, 22.05 kHz out).
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(LAME_QUALITY)
    encoder.silence()
    return encoder


def encode_mp3(pcm: Pcm, bitrate_kbps: int) -> bytes:
    """CBR MP3 of ``pcm`` (at a LAME rate) with a LAME Info frame in front."""
    encoder = new_lame_encoder(pcm.sample_rate, bitrate_kbps)
    audio = bytes(encoder.encode(pcm.to_bytes())) + bytes(encoder.flush())
    if not audio:
        return audio
    return lame_info_frame(audio, len(pcm.samples), bitrate_kbps) + audio


def lame_info_frame(audio: bytes, sample_count: int, bitrate_kbps: int) -> bytes:
    """The LAME "Info" tag frame for a mono CBR stream ``audio`` holding ``sample_count`` samples.

    Layout (the Xing header, then LAME's extension): after the 4-byte frame header and the zeroed
    side information come "Info", the flags (frames, bytes, TOC, quality), the frame count, the
    byte count, a 100-entry TOC, a quality word, then "LAME3.100", the VBR method, lowpass,
    ReplayGain (none), flags, bitrate, the 12-bit encoder delay and padding, misc, the music
    length and two CRC-16s. Decoders read the delay and padding to trim the output exactly; the
    frame itself decodes as silence in a decoder that ignores it. The music CRC is left 0 (no
    decoder checks it, and computing it in Python would cost more than the encoding).
    """
    first = audio[:4]
    frames, position = 0, 0
    while position + 4 <= len(audio):
        length = mpeg_frame_length(audio[position : position + 4])
        if length is None:
            break
        frames += 1
        position += length
    mpeg1 = (first[1] >> 3) & 0x3 == 3
    samples_per_frame = 1152 if mpeg1 else 576
    side_info = 17 if mpeg1 else 9  # mono
    needed = 4 + side_info + 120 + 36
    rate_index = (first[2] >> 2) & 0x3
    table = _MPEG1_LAYER3_KBPS if mpeg1 else _MPEG2_LAYER3_KBPS
    header = frame_length = None
    # The stream's own bitrate if the tag fits in such a frame, else the smallest that fits.
    candidates = sorted(range(1, 15), key=lambda i: (table[i - 1] != bitrate_kbps, i))
    for bitrate_index in candidates:
        candidate = bytes(
            [first[0], first[1], (bitrate_index << 4) | (rate_index << 2), first[3] & 0xCF]
        )
        length = mpeg_frame_length(candidate)
        if length is not None and length >= needed:
            header, frame_length = candidate, length
            break
    if header is None or frame_length is None:
        raise EncoderError("no MP3 frame size can hold the LAME tag")
    total_bytes = frame_length + len(audio)
    padding = frames * samples_per_frame - LAME_ENCODER_DELAY - sample_count
    frame = bytearray(frame_length)
    frame[0:4] = header
    offset = 4 + side_info
    toc = bytes(min(255, i * 256 // 100) for i in range(100))
    xing = b"Info" + struct.pack(">III", 0x0F, frames, total_bytes) + toc + struct.pack(">I", 0)
    frame[offset : offset + len(xing)] = xing
    offset += len(xing)
    source_rate_bits = 0  # bits 6-7 of "misc": source sample rate class
    rate = _rate_of(first)
    if rate == 44100:
        source_rate_bits = 1
    elif rate == 48000:
        source_rate_bits = 2
    lame = (
        b"LAME3.100"
        + bytes([0x01, 0])  # tag revision 0, VBR method 1 (CBR); lowpass unknown
        + struct.pack(">IHH", 0, 0, 0)  # peak amplitude, radio and audiophile ReplayGain
        + bytes([0, min(255, bitrate_kbps)])  # encoding flags and ATH; bitrate
        + (LAME_ENCODER_DELAY << 12 | max(0, min(4095, padding))).to_bytes(3, "big")
        + bytes([source_rate_bits << 6, 0])  # misc; MP3Gain
        + struct.pack(">HIH", 0, total_bytes, 0)  # preset/surround, music length, music CRC
    )
    frame[offset : offset + len(lame)] = lame
    offset += len(lame)
    frame[offset : offset + 2] = struct.pack(">H", _crc16_arc(frame[:offset]))
    return bytes(frame)


def _rate_of(header: bytes) -> int:
    version = (header[1] >> 3) & 0x3
    table = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
    return table.get(version, (0, 0, 0))[min(2, (header[2] >> 2) & 0x3)]


def _crc16_arc(data: bytes | bytearray) -> int:
    """CRC-16/ARC (reflected 0x8005, init 0): the checksum LAME puts on its tag."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


# --- Opus and AAC through ffmpeg ----------------------------------------------------------------


def opus_args(bitrate_kbps: int, *, page_ms: int | None = None) -> list[str]:
    """ffmpeg output options for Ogg Opus (``page_ms`` short pages for streaming)."""
    pages = ["-page_duration", str(page_ms * 1000)] if page_ms else []
    return ["-c:a", "libopus", "-b:a", f"{bitrate_kbps}k", *pages, "-f", "ogg"]


def aac_args(bitrate_kbps: int) -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{bitrate_kbps}k", "-f", "adts"]


def flac_args() -> list[str]:
    return ["-c:a", "flac", "-f", "flac"]


def ffmpeg_encoder_command(rate: int, output_args: list[str]) -> list[str]:
    """ffmpeg arguments that read s16le mono at ``rate`` on stdin and write to stdout."""
    return [
        *("-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"),
        *output_args,
        # bitexact: no "Lavf…" vendor strings and a fixed Ogg serial, so output is reproducible.
        *("-fflags", "+bitexact", "-flags:a", "+bitexact", "-flush_packets", "1", "pipe:1"),
    ]


def _run_ffmpeg_encoder(pcm: Pcm, output_args: list[str], timeout: float) -> bytes:
    process = FfmpegProcess(ffmpeg_encoder_command(pcm.sample_rate, output_args))
    try:
        encoded = process.pump(pcm.to_bytes(), finish=True, timeout=timeout)
    finally:
        process.kill()
    # No samples in, no ADTS frames out: an empty AAC stream is legitimately empty.
    if process.returncode != 0 or (not encoded and len(pcm.samples)):
        raise EncoderError(f"ffmpeg failed to encode: {process.stderr_text.strip()[-300:]}")
    return encoded


# --- Ogg Opus header --------------------------------------------------------------------------


def _ogg_crc_table() -> tuple[int, ...]:
    table = []
    for index in range(256):
        crc = index << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_OGG_CRC_TABLE: Final = _ogg_crc_table()


def ogg_crc(page: bytes | bytearray) -> int:
    """The Ogg page checksum (CRC-32, polynomial 0x04C11DB7, unreflected, initial value 0)."""
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def ogg_first_page_length(data: bytes | bytearray) -> int | None:
    """Length of the first Ogg page in ``data``, or None until all of it is there."""
    if len(data) < 27:
        return None
    length = 27 + data[26] + sum(data[27 : 27 + data[26]])
    return length if len(data) >= 27 + data[26] and len(data) >= length else None


def patch_opus_input_rate(data: bytes, rate: int) -> bytes:
    """Set the input-sample-rate field of the OpusHead in ``data``'s first page to ``rate``
    (and fix that page's checksum). ``data`` must start with the whole first page."""
    length = ogg_first_page_length(data)
    if length is None or data[:4] != b"OggS":
        raise EncoderError("the Opus stream does not start with an Ogg page")
    page = bytearray(data[:length])
    head = page.find(b"OpusHead")
    if head < 0:
        raise EncoderError("the first Ogg page holds no OpusHead")
    struct.pack_into("<I", page, head + 12, rate)
    struct.pack_into("<I", page, 22, 0)
    struct.pack_into("<I", page, 22, ogg_crc(page))
    return bytes(page) + data[length:]
