"""Decoding uploads: magic-byte probing, every input kind, downmix, limits and bad input."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.audio import decode, decode_pcm, encode, probe_format
from api.audio import decoding as decode_module
from api.engines.base import Pcm
from api.errors import InvalidInputError, UnsupportedMediaError
from tests.audio.audio_helpers import ffmpeg_make, peak_frequency, tone


def soundfile_bytes(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def assert_tone(decoded_pcm: Pcm, seconds: float, *, rel: float = 0.02, freq: float = 440) -> None:
    assert decoded_pcm.duration_seconds == pytest.approx(seconds, rel=rel)
    middle = decoded_pcm.samples[len(decoded_pcm.samples) // 4 : -len(decoded_pcm.samples) // 4]
    assert peak_frequency(middle, decoded_pcm.sample_rate) == pytest.approx(freq, rel=0.01)


# --- round trips through our own encoder -------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "rate", "probed"),
    [
        ("wav", 16000, "wav"),
        ("flac", 44100, "flac"),
        ("mp3", 24000, "mp3"),
        ("mp3", 8000, "mp3"),
        ("opus", 48000, "opus"),
        ("opus", 22050, "opus"),
        ("aac", 22050, "aac"),
    ],
)
def test_encode_then_decode_round_trips(fmt: str, rate: int, probed: str):
    source = tone(440, 3.0, rate)
    encoded = encode(source, fmt)
    assert probe_format(encoded) == probed
    decoded = decode(encoded)
    assert decoded.format == probed
    assert decoded.pcm.sample_rate == rate  # opus at 22050 comes back at 22050 too
    assert decoded.source_sample_rate == rate
    assert decoded.channels == 1
    assert decoded.duration_seconds == decoded.pcm.duration_seconds
    # ADTS keeps AAC's 1024 priming samples; everything else is (near) exact.
    assert_tone(decoded.pcm, 3.0, rel=0.04 if fmt == "aac" else 0.005)


def test_wav_is_sample_exact():
    source = tone(440, 0.77, 16000)
    assert np.array_equal(decode(encode(source, "wav")).pcm.samples, source.samples)


# --- inputs made by other tools -----------------------------------------------------------------


def test_m4a_with_its_index_at_the_end_decodes(tmp_path: Path):
    # What phones write: moov after mdat, which cannot be demuxed from a pipe.
    data = ffmpeg_make(tmp_path, "a.m4a", "-ac", "2", "-ar", "44100", "-c:a", "aac")
    assert data[4:8] == b"ftyp" and data.find(b"moov") > data.find(b"mdat")
    decoded = decode(data)
    assert decoded.format == "mp4"
    assert (decoded.source_sample_rate, decoded.channels) == (44100, 2)
    assert_tone(decoded.pcm, 2.0)


def test_m4a_faststart_decodes(tmp_path: Path):
    data = ffmpeg_make(tmp_path, "b.m4a", "-ar", "16000", "-c:a", "aac", "-movflags", "+faststart")
    decoded = decode(data)
    assert (decoded.format, decoded.pcm.sample_rate) == ("mp4", 16000)
    assert_tone(decoded.pcm, 2.0)


def test_webm_opus_from_a_browser_recorder_decodes(tmp_path: Path):
    data = ffmpeg_make(tmp_path, "c.webm", "-ac", "2", "-c:a", "libopus")
    decoded = decode(data)
    assert (decoded.format, decoded.source_sample_rate, decoded.channels) == ("webm", 48000, 2)
    assert_tone(decoded.pcm, 2.0)


def test_matroska_and_adts_and_ogg_vorbis_decode(tmp_path: Path):
    mka = decode(ffmpeg_make(tmp_path, "d.mka", "-c:a", "flac"))
    assert mka.format == "matroska"
    assert_tone(mka.pcm, 2.0)
    adts = decode(ffmpeg_make(tmp_path, "e.aac", "-ar", "24000", "-c:a", "aac", "-f", "adts"))
    assert (adts.format, adts.pcm.sample_rate) == ("aac", 24000)
    assert_tone(adts.pcm, 2.0, rel=0.04)
    vorbis = soundfile_bytes(tone(440, 2.0, 22050).samples, 22050, "OGG", "VORBIS")
    decoded = decode(vorbis)
    assert (decoded.format, decoded.pcm.sample_rate) == ("ogg", 22050)
    assert_tone(decoded.pcm, 2.0)


def test_stereo_is_averaged_to_mono():
    left = tone(440, 1.0, 16000).samples
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    decoded = decode(soundfile_bytes(stereo, 16000, "WAV", "PCM_16"))
    assert decoded.channels == 2
    assert np.abs(decoded.pcm.samples.astype(int) - left // 2).max() <= 1


def test_float_wav_is_clipped_not_wrapped():
    loud = np.array([0.5, 1.5, -2.0, 0.0], dtype=np.float32)
    decoded = decode(soundfile_bytes(loud, 8000, "WAV", "FLOAT"))
    assert decoded.pcm.samples.tolist() == [16384, 32767, -32768, 0]


def test_24_bit_wav_and_aiff_decode():
    source = tone(440, 1.0, 48000)
    for fmt, subtype, probed in (("WAV", "PCM_24", "wav"), ("AIFF", "PCM_16", "aiff")):
        decoded = decode(soundfile_bytes(source.samples, 48000, fmt, subtype))
        assert decoded.format == probed
        assert np.abs(decoded.pcm.samples.astype(int) - source.samples).max() <= 1


def test_id3_tags_in_front_of_mp3_and_flac_are_skipped():
    tag_body = b"TIT2" + struct.pack(">I", 6) + b"\x00\x00\x03Hello"
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, len(tag_body)]) + tag_body
    for fmt in ("mp3", "flac"):
        data = tag + encode(tone(440, 1.0, 24000), fmt)
        assert probe_format(data) == fmt
        assert_tone(decode(data).pcm, 1.0, rel=0.01)


def test_wav_with_unknown_length_header_decodes():
    pcm = tone(440, 1.0, 16000)
    for size in (0, 0xFFFFFFFF):  # streaming writers put 0 or 0xFFFFFFFF in the size fields
        header = bytearray(encode(Pcm.empty(16000), "wav"))
        struct.pack_into("<I", header, 4, size)
        struct.pack_into("<I", header, 40, size)
        decoded = decode(bytes(header) + pcm.to_bytes())
        assert len(decoded.pcm.samples) == len(pcm.samples)


def test_decoding_at_a_requested_rate_keeps_the_source_rate_on_record(tmp_path: Path):
    wav = decode(encode(tone(440, 1.0, 44100), "wav"), sample_rate=16000)
    assert (wav.pcm.sample_rate, wav.source_sample_rate) == (16000, 44100)
    assert_tone(wav.pcm, 1.0, rel=0.001)
    m4a = decode(ffmpeg_make(tmp_path, "f.m4a", "-ar", "48000", "-c:a", "aac"), sample_rate=16000)
    assert (m4a.pcm.sample_rate, m4a.source_sample_rate) == (16000, 48000)


def test_raw_pcm_bytes():
    pcm = tone(440, 0.1, 8000)
    decoded = decode_pcm(pcm.to_bytes() + b"\x01", 8000)  # a stray odd byte is dropped
    assert np.array_equal(decoded.samples, pcm.samples)


# --- limits ---------------------------------------------------------------------------------------


def test_audio_over_max_seconds_is_refused_in_process():
    wav = encode(tone(440, 3.0, 16000), "wav")
    with pytest.raises(InvalidInputError) as caught:
        decode(wav, max_seconds=1.0)
    assert caught.value.code == "AUDIO_TOO_LONG"
    assert decode(wav, max_seconds=3.0).duration_seconds == pytest.approx(3.0)


def test_audio_over_max_seconds_is_refused_through_ffmpeg(tmp_path: Path):
    m4a = ffmpeg_make(tmp_path, "g.m4a", "-c:a", "aac", seconds=5.0)
    with pytest.raises(InvalidInputError) as caught:
        decode(m4a, max_seconds=2.0)
    assert caught.value.code == "AUDIO_TOO_LONG"
    assert decode(m4a, max_seconds=6.0).duration_seconds == pytest.approx(5.0, rel=0.02)


def test_decompression_bombs_stop_at_the_absolute_cap(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setattr(decode_module, "MAX_DECODED_SAMPLES", 16000)
    silence_flac = encode(Pcm(np.zeros(48000, dtype=np.int16), 16000), "flac")
    with pytest.raises(InvalidInputError) as caught:
        decode(silence_flac)
    assert caught.value.code == "AUDIO_TOO_LONG"
    with pytest.raises(InvalidInputError):
        decode(ffmpeg_make(tmp_path, "h.m4a", "-ar", "16000", "-c:a", "aac", seconds=3.0))


# --- bad input ---------------------------------------------------------------------------------


def zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.wav", b"not really")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x00" * 1000, "not a recognised audio file"),
        (bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)), "recognised"),
        (zip_bytes(), "ZIP archive"),  # a ZIP renamed to .wav is still a ZIP
        (b"%PDF-1.7\n...", "PDF"),
        (b"<!DOCTYPE html><html>", "HTML"),
        (b"hello, this is text", "not a recognised audio file"),
    ],
)
def test_non_audio_is_unsupported_media(data: bytes, message: str):
    assert probe_format(data) is None
    with pytest.raises(UnsupportedMediaError) as caught:
        decode(data)
    assert caught.value.status == 415
    assert message in caught.value.message


def test_truncated_files_are_unsupported_media(tmp_path: Path):
    wav = encode(tone(440, 1.0, 16000), "wav")
    m4a = ffmpeg_make(tmp_path, "i.m4a", "-c:a", "aac")  # index at the end: a half file is lost
    webm = ffmpeg_make(tmp_path, "j.webm", "-c:a", "libopus")
    flac = encode(tone(440, 1.0, 16000), "flac")
    for broken in (wav[:30], wav[:44], m4a[: len(m4a) // 2], webm[:60], flac[:50], b"OggS"):
        with pytest.raises(UnsupportedMediaError):
            decode(broken)


def test_a_file_cut_mid_stream_decodes_what_is_there():
    flac = encode(tone(440, 2.0, 16000), "flac")
    decoded = decode(flac[: len(flac) // 2])
    assert 0.3 < decoded.duration_seconds < 1.7


def test_valid_header_followed_by_garbage_is_unsupported_media():
    header = encode(Pcm.empty(16000), "wav")[:12]
    with pytest.raises(UnsupportedMediaError):
        decode(header + b"garbage" * 100)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_probe_or_decode(data: bytes):
    fmt = probe_format(data)
    assert fmt is None or isinstance(fmt, str)
    try:
        decode(data)
    except UnsupportedMediaError:
        pass


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["wav", "flac", "mp3", "opus"]), st.integers(0, 3000))
def test_prefixes_of_real_files_fail_cleanly(fmt: str, cut: int):
    data = _real_files()[fmt]
    try:
        decoded = decode(data[:cut])
    except UnsupportedMediaError:
        return
    assert decoded.duration_seconds > 0


_FILES: dict[str, bytes] = {}


def _real_files() -> dict[str, bytes]:
    if not _FILES:
        source = tone(440, 0.5, 16000)
        _FILES.update({fmt: encode(source, fmt) for fmt in ("wav", "flac", "mp3", "opus")})
    return _FILES
