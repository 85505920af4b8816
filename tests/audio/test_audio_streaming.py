"""Streaming encoders: early bytes, correct streams, and no leaked ffmpeg processes."""

from __future__ import annotations

import gc
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from api.audio import decode, encode_stream, open_stream_encoder
from api.engines.base import Pcm
from tests.audio.audio_helpers import ffmpeg_decode, opus_head_rate, peak_frequency, tone


def chunks_of(pcm: Pcm, seconds: float) -> Iterator[Pcm]:
    step = round(seconds * pcm.sample_rate)
    for start in range(0, len(pcm.samples), step):
        yield Pcm(pcm.samples[start : start + step], pcm.sample_rate)


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_mp3_bytes_come_out_with_the_first_chunk():
    encoder = open_stream_encoder("mp3", 24000)
    first_chunk = tone(440, 0.2, 24000)
    started = time.perf_counter()
    first_bytes = encoder.feed(first_chunk)
    latency_ms = (time.perf_counter() - started) * 1000
    encoder.close()
    assert first_bytes[:1] == b"\xff"  # an MPEG frame, straight away
    assert latency_ms < 50, latency_ms  # measured ~1 ms


def test_a_long_chunk_leaves_in_pieces_with_the_same_bytes():
    """An engine's 4.5 s sentence is not encoded whole before its first MP3 bytes leave
    (bench row B9): the first piece's frames come out first, and the stream is unchanged."""
    sentence = tone(440, 4.5, 22050)
    whole = open_stream_encoder("mp3", 22050)
    expected = whole.feed(sentence) + whole.finish()
    pieces = list(encode_stream(iter([sentence]), "mp3", 22050))
    assert b"".join(pieces) == expected
    assert len(pieces) >= 10
    assert len(pieces[0]) < len(expected) / 10


def test_streamed_mp3_decodes_to_the_right_duration(tmp_path: Path):
    source = tone(440, 10.0, 22050)
    encoder = open_stream_encoder("mp3", 24000)  # chunks at the engine's rate are resampled
    parts = [encoder.feed(chunk) for chunk in chunks_of(source, 0.5)]
    assert all(parts), "every half-second chunk yields frames"
    data = b"".join(parts) + encoder.finish()
    decoded = ffmpeg_decode(data, tmp_path, name="stream.mp3")
    assert decoded.rate == 24000
    # No Info frame in a stream: LAME's ~50 ms start-up delay stays in (within the 2%).
    assert len(decoded.samples) / 24000 == pytest.approx(10.0, rel=0.02)
    assert peak_frequency(decoded.samples[24000:-24000], 24000) == pytest.approx(440, rel=0.01)


@pytest.mark.parametrize("fmt", ["opus", "aac", "flac", "wav", "pcm"])
@pytest.mark.parametrize("rate", [16000, 44100])
def test_every_format_streams_to_a_decodable_file(fmt: str, rate: int, tmp_path: Path):
    source = tone(440, 4.0, 24000)
    with open_stream_encoder(fmt, rate) as encoder:
        data = b"".join(encoder.feed(chunk) for chunk in chunks_of(source, 0.4))
        data += encoder.finish()
    input_args = ("-f", "s16le", "-ar", str(rate), "-ac", "1") if fmt == "pcm" else ()
    decoded = ffmpeg_decode(data, tmp_path, input_args=input_args, name=f"s.{fmt}")
    if fmt == "opus":
        assert decoded.rate == 48000 and opus_head_rate(data) == rate
    else:
        assert decoded.rate == rate
    # ADTS cannot signal AAC's 1024-sample priming: up to two frames come back extra.
    tolerance = 2048 / rate + 0.01 if fmt == "aac" else 0.08
    assert len(decoded.samples) / decoded.rate == pytest.approx(4.0, abs=tolerance)
    if fmt != "pcm":
        ours = decode(data)  # and our own decoder reads the stream too (FLAC without a length)
        assert ours.pcm.sample_rate == rate
        assert ours.duration_seconds == pytest.approx(4.0, abs=tolerance)


def test_wav_stream_header_says_unknown_length():
    with open_stream_encoder("wav", 16000) as encoder:
        head = encoder.feed(tone(440, 0.1, 16000))
    assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    assert struct.unpack_from("<I", head, 4)[0] == 0xFFFFFFFF
    assert head[36:40] == b"data" and struct.unpack_from("<I", head, 40)[0] == 0xFFFFFFFF
    assert struct.unpack_from("<I", head, 24)[0] == 16000


@pytest.mark.parametrize("fmt", ["opus", "aac", "flac"])
def test_ffmpeg_streams_answer_the_first_chunk(fmt: str):
    with open_stream_encoder(fmt, 24000) as encoder:
        first = encoder.feed(tone(440, 1.0, 24000))
    assert first, f"{fmt} produced nothing for a one-second first chunk"


@pytest.mark.parametrize("fmt", ["opus", "aac", "flac"])
def test_closing_early_kills_the_encoder_process(fmt: str):
    encoder = open_stream_encoder(fmt, 24000)
    encoder.feed(tone(440, 0.5, 24000))
    pid = encoder.pid
    assert pid is not None and not process_gone(pid)
    encoder.close()  # the client went away
    assert process_gone(pid)
    with pytest.raises(RuntimeError):
        encoder.feed(tone(440, 0.1, 24000))
    encoder.close()  # idempotent


def test_an_abandoned_generator_and_a_forgotten_encoder_leave_no_process():
    def endless() -> Iterator[Pcm]:
        while True:
            yield tone(440, 0.3, 24000)

    stream = encode_stream(endless(), "aac", 24000)
    next(stream)
    pid = stream.gi_frame.f_locals["encoder"].pid  # type: ignore[union-attr]
    stream.close()  # what a web server does when the client disconnects
    assert process_gone(pid)

    forgotten = open_stream_encoder("opus", 24000)
    pid = forgotten.pid
    assert pid is not None
    del forgotten
    gc.collect()
    assert process_gone(pid)


def test_a_huge_chunk_does_not_deadlock_the_pipes():
    # 30 s at 48 kHz is 2.9 MB, far beyond a 64 KiB pipe buffer in each direction.
    big = tone(440, 30.0, 48000)
    started = time.perf_counter()
    with open_stream_encoder("aac", 48000) as encoder:
        data = encoder.feed(big) + encoder.finish()
    assert time.perf_counter() - started < 20
    assert decode(data).duration_seconds == pytest.approx(30.0, rel=0.01)


def test_encode_stream_yields_the_whole_file(tmp_path: Path):
    source = tone(440, 2.0, 16000)
    data = b"".join(encode_stream(chunks_of(source, 0.25), "opus", 16000))
    decoded = decode(data)
    assert decoded.pcm.sample_rate == 16000
    assert decoded.duration_seconds == pytest.approx(2.0, abs=0.01)
    assert np.abs(decoded.pcm.samples).max() > 1000


def test_many_small_chunks_do_not_make_the_stream_fall_behind():
    source = tone(440, 2.0, 24000)
    started = time.perf_counter()
    with open_stream_encoder("aac", 24000) as encoder:
        pieces = [encoder.feed(chunk) for chunk in chunks_of(source, 0.02)]  # 100 chunks
        time.sleep(0.05)
        pieces.append(encoder.poll())  # what arrived meanwhile, without feeding
        pieces.append(encoder.finish())
    elapsed = time.perf_counter() - started
    assert elapsed < 2.5, elapsed  # waiting 50 ms per chunk would take over 5 s
    assert decode(b"".join(pieces)).duration_seconds == pytest.approx(2.0, abs=2048 / 24000 + 0.01)
