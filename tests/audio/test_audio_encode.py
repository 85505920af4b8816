"""Encoding: every output format at every rate, checked by an independent decoder (ffmpeg)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from api.audio import (
    OUTPUT_FORMATS,
    SAMPLE_RATES,
    content_type,
    default_bitrate_kbps,
    encode,
    file_extension,
)
from api.audio.encoding import codec_bitrate_kbps, codec_sample_rate
from api.engines.base import Pcm
from api.errors import InvalidInputError
from tests.audio.audio_helpers import ffmpeg_decode, opus_head_rate, peak_frequency, tone


def clip_seconds(rate: int) -> float:
    # ADTS cannot signal AAC's 1024-sample priming, so up to ~2048 extra samples come back; the
    # clip is long enough for that to stay under 1.5% of it (17 s at 8 kHz, 4 s at 48 kHz).
    return max(4.0, 2048 / rate / 0.015)


@pytest.mark.parametrize("rate", SAMPLE_RATES)
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_every_format_and_rate_decodes_back_with_ffmpeg(fmt: str, rate: int, tmp_path: Path):
    source = tone(440, clip_seconds(rate), 22050)  # engines speak 22050 Hz; encode resamples
    encoded = encode(source, fmt, sample_rate=rate)
    input_args = ("-f", "s16le", "-ar", str(rate), "-ac", "1") if fmt == "pcm" else ()
    decoded = ffmpeg_decode(encoded, tmp_path, input_args=input_args)
    if fmt == "opus":
        # Opus always decodes at 48 kHz; the container records the requested rate.
        assert decoded.rate == 48000
        assert opus_head_rate(encoded) == rate
    else:
        assert decoded.rate == rate
    duration = len(decoded.samples) / decoded.rate
    assert duration == pytest.approx(source.duration_seconds, rel=0.02)
    middle = decoded.samples[len(decoded.samples) // 4 : 3 * len(decoded.samples) // 4]
    assert peak_frequency(middle, decoded.rate) == pytest.approx(440, rel=0.01)


@pytest.mark.parametrize("rate", [8000, 22050, 48000])
def test_mp3_is_gapless_thanks_to_the_lame_info_frame(rate: int, tmp_path: Path):
    source = tone(440, 1.234, rate)
    encoded = encode(source, "mp3")
    decoded = ffmpeg_decode(encoded, tmp_path, name="a.mp3")
    assert len(decoded.samples) == len(source.samples)  # encoder delay and padding trimmed
    # The samples line up with the input (no leftover delay): compare the waveforms.
    error = decoded.samples[2000:-2000].astype(float) - source.samples[2000:-2000]
    assert np.sqrt(np.mean(error**2)) < 0.05 * 0.3 * 32767
    assert encoded[0] == 0xFF and encoded[1] & 0xE0 == 0xE0  # starts with a frame, no ID3
    info = encoded.index(b"Info")
    assert encoded[info + 120 : info + 124] == b"LAME"


def test_wav_header_is_exact():
    pcm = tone(440, 0.5, 16000)
    data = encode(pcm, "wav")
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    (riff_size,) = struct.unpack_from("<I", data, 4)
    channels, rate, byte_rate, align, bits = struct.unpack_from("<HIIHH", data, 22)
    assert (channels, rate, byte_rate, align, bits) == (1, 16000, 32000, 2, 16)
    assert data[36:40] == b"data"
    assert struct.unpack_from("<I", data, 40)[0] == len(pcm.samples) * 2
    assert riff_size == len(data) - 8
    assert data[44:] == pcm.to_bytes()


def test_pcm_is_raw_little_endian_samples_at_the_requested_rate():
    pcm = tone(440, 0.25, 24000)
    assert encode(pcm, "pcm") == pcm.samples.astype("<i2").tobytes()
    resampled = encode(pcm, "pcm", sample_rate=8000)
    assert len(resampled) == 2 * 2000


def test_default_rate_is_the_pcm_rate(tmp_path: Path):
    decoded = ffmpeg_decode(encode(tone(440, 1, 16000), "aac"), tmp_path)
    assert decoded.rate == 16000


def test_bitrates_are_snapped_to_what_the_codec_allows():
    assert codec_bitrate_kbps("mp3", 8000, 320) == 160  # MPEG-2.5 tops out at 160 kbps
    assert codec_bitrate_kbps("mp3", 48000, 100) == 96
    assert codec_bitrate_kbps("mp3", 48000, 8) == 32
    assert codec_bitrate_kbps("aac", 8000, 256) == 48  # 6144 bits per 1024-sample frame
    assert codec_bitrate_kbps("opus", 48000, 1) == 6
    assert default_bitrate_kbps("mp3", 24000) == 64
    assert codec_sample_rate("opus", 22050) == 24000
    assert codec_sample_rate("opus", 44100) == 48000
    assert codec_sample_rate("mp3", 22050) == 22050


def test_a_higher_bitrate_makes_a_bigger_file():
    pcm = tone(440, 2, 24000)
    for fmt in ("mp3", "opus", "aac"):
        small = encode(pcm, fmt, bitrate_kbps=16)
        large = encode(pcm, fmt, bitrate_kbps=48)
        assert len(large) > len(small) * 1.5, fmt


def test_unknown_format_and_bad_rate_are_refused():
    pcm = tone(440, 0.1, 24000)
    with pytest.raises(InvalidInputError) as caught:
        encode(pcm, "ogg")
    assert caught.value.param == "format"
    with pytest.raises(InvalidInputError) as caught:
        encode(pcm, "mp3", sample_rate=96000)
    assert caught.value.param == "sample_rate"


def test_empty_pcm_encodes_to_valid_near_empty_files(tmp_path: Path):
    empty = Pcm.empty(24000)
    assert encode(empty, "pcm") == b""
    assert len(encode(empty, "wav")) == 44
    assert encode(empty, "aac") == b""  # ADTS has no header: no frames, no bytes
    for fmt in ("mp3", "opus", "flac"):
        decoded = ffmpeg_decode(encode(empty, fmt), tmp_path, name=f"empty.{fmt}")
        assert len(decoded.samples) / decoded.rate < 0.05, fmt


def test_content_types_and_extensions():
    assert {fmt: content_type(fmt) for fmt in OUTPUT_FORMATS} == {
        "mp3": "audio/mpeg",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
        "opus": "audio/ogg; codecs=opus",
        "aac": "audio/aac",
        "flac": "audio/flac",
    }
    assert [file_extension(fmt) for fmt in OUTPUT_FORMATS] == list(OUTPUT_FORMATS)
