"""Audio formats: what we write (content types, extensions, rates) and what we recognise.

Output formats are the union of the seeds' lists: seed 001 (mp3, wav, pcm, opus), seed 002
(mp3, opus, aac, flac, wav, pcm) and seed 004 (mp3, wav, pcm). ``pcm`` is raw 16-bit
little-endian mono with no header; its content type is ``audio/pcm`` (the sample rate travels
out of band, in the dialect's response fields).

Input formats are recognised by their first bytes (``probe_format``), never by a file name or
a client's Content-Type: a ZIP renamed to ``.wav`` is a ZIP. Probing is cheap and pure; it
decides which decoder gets the bytes (``api.audio.decoding``).
"""

from __future__ import annotations

import struct
from typing import Final, Literal, get_args

OutputFormat = Literal["mp3", "wav", "pcm", "opus", "aac", "flac"]
OUTPUT_FORMATS: Final[tuple[str, ...]] = get_args(OutputFormat)

# The rates seed 001 offers; every output format can be asked for any of them.
SAMPLE_RATES: Final[tuple[int, ...]] = (8000, 16000, 22050, 24000, 44100, 48000)
MIN_SAMPLE_RATE: Final = 8000
MAX_SAMPLE_RATE: Final = 48000

_CONTENT_TYPES: Final[dict[str, str]] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    # RFC 7845: Ogg Opus files are audio/ogg; the codecs parameter lets a browser pick a decoder.
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",  # ADTS stream
    "flac": "audio/flac",
}

_EXTENSIONS: Final[dict[str, str]] = {
    "mp3": "mp3",
    "wav": "wav",
    "pcm": "pcm",
    "opus": "opus",  # the conventional extension of Ogg Opus files
    "aac": "aac",
    "flac": "flac",
}

# Input formats probe_format can name.
InputFormat = Literal["wav", "aiff", "flac", "mp3", "ogg", "opus", "mp4", "aac", "webm", "matroska"]
INPUT_FORMATS: Final[tuple[str, ...]] = get_args(InputFormat)


def is_output_format(fmt: str) -> bool:
    return fmt in _CONTENT_TYPES


def content_type(fmt: str) -> str:
    """The Content-Type of an output format (``KeyError`` for an unknown one)."""
    return _CONTENT_TYPES[fmt]


def file_extension(fmt: str) -> str:
    """The file extension (without the dot) of an output format."""
    return _EXTENSIONS[fmt]


# --- probing ----------------------------------------------------------------------------------

# Non-audio files people upload by mistake, named in the error so the caller knows what we saw.
_KNOWN_NON_AUDIO: Final[tuple[tuple[bytes, str], ...]] = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a program"),
    (b"MThd", "a MIDI file"),
)


def describe_non_audio(data: bytes) -> str | None:
    """A short name for common non-audio files ("a ZIP archive"), for error messages."""
    for magic, name in _KNOWN_NON_AUDIO:
        if data.startswith(magic):
            return name
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if head.startswith((b"{", b"[")):
        return "JSON text"
    return None


def probe_format(data: bytes) -> str | None:
    """Name the container/codec of ``data`` from its magic bytes, or None if it is not audio
    we can read. The names are those of ``InputFormat``: ``ogg`` is Ogg Vorbis (or another
    non-Opus Ogg codec), ``mp4`` covers M4A/MP4/3GP, ``aac`` is a raw ADTS stream.
    """
    if len(data) < 4:
        return None
    head = data[:12]
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"OggS":
        return "opus" if _ogg_first_packet(data).startswith(b"OpusHead") else "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in data[:64] else "matroska"
    offset = id3v2_size(data)
    body = data[offset:]
    if body[:4] == b"fLaC":
        return "flac"
    if _is_adts_at(body, 0):
        return "aac"
    if _mpeg_audio_start(body) is not None:
        return "mp3"
    return None


def id3v2_size(data: bytes) -> int:
    """Bytes taken by leading ID3v2 tags (MP3, and sometimes FLAC/AAC, files start with one)."""
    offset = 0
    # Some files carry more than one tag back to back.
    while data[offset : offset + 3] == b"ID3" and len(data) >= offset + 10:
        flags = data[offset + 5]
        size_bytes = data[offset + 6 : offset + 10]
        if any(b & 0x80 for b in size_bytes):
            break  # not a valid synchsafe size: leave it to the decoder
        size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
        offset += 10 + size + (10 if flags & 0x10 else 0)
    return offset


def _ogg_first_packet(data: bytes) -> bytes:
    if len(data) < 27:
        return b""
    segments = data[26]
    start = 27 + segments
    return data[start : start + 64]


def opus_input_sample_rate(data: bytes) -> int | None:
    """The ``input sample rate`` field of an Ogg Opus ID header (RFC 7845 §5.1), if present."""
    packet = _ogg_first_packet(data)
    if not packet.startswith(b"OpusHead") or len(packet) < 16:
        return None
    rate: int = struct.unpack_from("<I", packet, 12)[0]
    return rate or None


# --- MPEG audio and ADTS frame headers ---------------------------------------------------------

# kbps by [version is MPEG-1][layer index 1..3][bitrate index]; layer index 1 = Layer III.
_MPEG1_BITRATES: Final = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    3: (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
}
_MPEG2_BITRATES: Final = {
    1: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    3: (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
}
_MPEG_RATES: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mpeg_frame_length(header: bytes) -> int | None:
    """Length in bytes of the MPEG audio frame whose 4-byte header is given, or None if the
    bytes are not a valid header (free-format frames count as invalid: we never write them)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 0x3  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5, 1 reserved
    layer = (header[1] >> 1) & 0x3  # 1 = Layer III, 2 = II, 3 = I, 0 reserved (ADTS)
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 0x3
    if version == 1 or layer == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    table = _MPEG1_BITRATES if version == 3 else _MPEG2_BITRATES
    bitrate = table[layer][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    padding = (header[2] >> 1) & 0x1
    if layer == 3:  # Layer I: 4-byte slots
        return (12 * bitrate // rate + padding) * 4
    if layer == 1 and version != 3:  # Layer III, MPEG-2/2.5: 576 samples per frame
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def _mpeg_audio_start(data: bytes, search_limit: int = 4096) -> int | None:
    """Offset of the first of two consecutive valid MPEG audio frames (one frame suffices when it
    ends the data). Requiring a second frame keeps random bytes from passing as MP3."""
    for offset in range(min(len(data) - 3, search_limit)):
        if data[offset] != 0xFF:
            continue
        length = mpeg_frame_length(data[offset : offset + 4])
        if length is None:
            continue
        following = offset + length
        if following >= len(data):
            if offset == 0 and following == len(data):
                return offset
            continue
        nxt = data[following : following + 4]
        if mpeg_frame_length(nxt) is not None and nxt[1] == data[offset + 1]:
            return offset
    return None


def _is_adts_at(data: bytes, offset: int) -> bool:
    """True if an ADTS frame starts at ``offset`` (and the next one, if any, lines up)."""
    header = data[offset : offset + 7]
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:
        return False
    if (header[2] >> 2) & 0xF > 12:  # sampling frequency index 13-15 are reserved
        return False
    length = ((header[3] & 0x3) << 11) | (header[4] << 3) | (header[5] >> 5)
    if length < 7:
        return False
    following = offset + length
    if following >= len(data):
        return following == len(data)
    return (
        data[following] == 0xFF
        and data[following + 1 : following + 2] != b""
        and (data[following + 1] & 0xF6 == 0xF0)
    )
