"""Shared tools for the audio tests: test signals, and an independent decoder (the ffmpeg
binary, parsed here, not ``api.audio``) to check what the code under test produced."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from api.engines.base import Pcm

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def tone(freq: float = 440.0, seconds: float = 1.0, rate: int = 24000, level: float = 0.3) -> Pcm:
    t = np.arange(round(seconds * rate)) / rate
    return Pcm(np.round(np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16), rate)


def harmonic_voice(f0: float = 150.0, seconds: float = 2.0, rate: int = 24000) -> Pcm:
    """A crude voiced sound: a fundamental and decaying harmonics, gently modulated in level."""
    t = np.arange(round(seconds * rate)) / rate
    signal = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    signal = signal * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    signal = signal / np.max(np.abs(signal)) * 0.5
    return Pcm(np.round(signal * 32767).astype(np.int16), rate)


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    """Strongest FFT bin, refined by parabolic interpolation (independent of api.audio)."""
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spectrum[0] = 0
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) else 0.0
    return float((k + offset) * rate / len(x))


@dataclass
class FfmpegDecoded:
    samples: np.ndarray
    rate: int  # the rate ffmpeg reports for the input stream
    codec: str
    channels: str


_STREAM = re.compile(r"Stream #0:0[^\n]*?: Audio: ([^\n,]+),[^\n]*?(\d+) Hz, ([^,\n]+)")


def ffmpeg_decode(
    data: bytes, tmp_path: Path, *, input_args: tuple[str, ...] = (), name: str = "input"
) -> FfmpegDecoded:
    """Decode ``data`` with the ffmpeg binary from a file (as a downloaded file is played)."""
    path = tmp_path / name
    path.write_bytes(data)
    result = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", *input_args, "-i", str(path)]
        + ["-f", "s16le", "-ac", "1", "pipe:1"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    log = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, log[-2000:]
    match = _STREAM.search(log)
    assert match, log[-2000:]
    return FfmpegDecoded(
        np.frombuffer(result.stdout, dtype="<i2"),
        int(match.group(2)),
        match.group(1),
        match.group(3).strip(),
    )


def ffmpeg_make(tmp_path: Path, name: str, *args: str, seconds: float = 2.0) -> bytes:
    """A file made by the ffmpeg binary from a 440 Hz sine (``args`` are output options)."""
    path = tmp_path / name
    subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi"]
        + ["-i", f"sine=frequency=440:duration={seconds}", *args, "-y", str(path)],
        check=True,
        timeout=60,
    )
    return path.read_bytes()


def opus_head_rate(data: bytes) -> int:
    """The input-sample-rate field of the OpusHead packet (read without api.audio)."""
    index = data.index(b"OpusHead")
    return int.from_bytes(data[index + 12 : index + 16], "little")
