"""Signal helpers the ASR, emotion and clone engines share: resampling, frame energy, F0, cuts.

Numpy and pyworld only (no scipy, no librosa: research/engines.md §5 keeps the stack small).
Everything here is deterministic: the same samples give the same numbers on every run.

- ``resample`` is a windowed-sinc resampler computed in blocks, so converting an hour of audio
  never holds more than one block of filter taps in memory. It exists because the engines need
  16 kHz input before ``api.audio`` (the platform's resampler) was written; quality is ample for
  recognition and analysis (Blackman window, about 55 dB of stop-band rejection).
- ``f0_contour`` is WORLD's dio + stonemask: about 3x faster than harvest for the same F0
  statistics (research/engines.md §5).
- ``prosody_features`` summarises a clip the way the emotion heuristic reads it: F0 level,
  spread and range in semitones, energy variability, a syllable-rate proxy.
- ``quiet_cut_points`` splits long audio at its quietest moments, for engines that work on
  bounded windows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyworld

from api.engines.base import Pcm

FloatArray = npt.NDArray[np.float64]

ANALYSIS_RATE = 16_000
FRAME_SECONDS = 0.025
HOP_SECONDS = 0.010
F0_FLOOR_HZ = 60.0
F0_CEIL_HZ = 700.0
SILENCE_DBFS = -55.0  # frames quieter than this are silence whatever the clip's level
ACTIVE_BELOW_PEAK_DB = 35.0  # frames more than this below the clip's loud frames are pauses

_RESAMPLE_ZERO_CROSSINGS = 12
_RESAMPLE_BLOCK = 1 << 15


def pcm_to_float(pcm: Pcm) -> FloatArray:
    """Samples as float64 in [-1, 1)."""
    return pcm.samples.astype(np.float64) / 32768.0


def float_to_pcm(samples: FloatArray, sample_rate: int) -> Pcm:
    """Float samples back to int16, clipped rather than wrapped."""
    scaled = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    return Pcm(scaled, sample_rate)


def resampled_length(length: int, source_rate: int, target_rate: int) -> int:
    return int(math.floor(length * target_rate / source_rate))


def _kernel(distance: FloatArray, cutoff: float, half_width: int) -> FloatArray:
    """Blackman-windowed sinc low-pass at ``cutoff`` (a fraction of the source Nyquist)."""
    window = np.where(
        np.abs(distance) < half_width,
        0.42
        + 0.5 * np.cos(np.pi * distance / half_width)
        + 0.08 * np.cos(2 * np.pi * distance / half_width),
        0.0,
    )
    return np.asarray(cutoff * np.sinc(cutoff * distance) * window, dtype=np.float64)


@functools.lru_cache(maxsize=16)
def _polyphase(source_rate: int, target_rate: int) -> tuple[int, int, int, FloatArray]:
    """(up, down, half_width, weights[phase, tap]) for a rational rate change.

    Output sample k sits at input position k * down / up; its fractional part takes only ``up``
    values, so the filter taps are computed once per phase instead of once per sample.
    """
    divisor = math.gcd(source_rate, target_rate)
    up, down = target_rate // divisor, source_rate // divisor
    # Low-pass at the lower of the two Nyquist frequencies, a little below it, so nothing
    # above the new Nyquist folds back as aliasing.
    cutoff = min(1.0, up / down) * 0.94
    half_width = int(math.ceil(_RESAMPLE_ZERO_CROSSINGS / cutoff))
    offsets = np.arange(-half_width + 1, half_width + 1)
    fractions = np.arange(up) / up  # row r: output samples whose position has fraction r/up
    weights = _kernel(fractions[:, None] - offsets[None, :], cutoff, half_width)
    weights.setflags(write=False)
    return up, down, half_width, weights


def resample_span(
    samples: npt.NDArray[np.int16] | FloatArray,
    source_rate: int,
    target_rate: int,
    start: int,
    stop: int,
) -> FloatArray:
    """Output samples ``start:stop`` of ``samples`` resampled to ``target_rate``.

    Each output sample is computed on its own from the input around it, so a long signal can be
    converted window by window with results identical to converting it whole.
    """
    if source_rate == target_rate:
        return np.asarray(samples[start:stop], dtype=np.float64)
    up, down, half_width, weights = _polyphase(source_rate, target_rate)
    offsets = np.arange(-half_width + 1, half_width + 1)
    output = np.empty(max(0, stop - start), dtype=np.float64)
    for block_start in range(start, stop, _RESAMPLE_BLOCK):
        block_stop = min(stop, block_start + _RESAMPLE_BLOCK)
        index = np.arange(block_start, block_stop, dtype=np.int64)
        base = index * down // up
        phase = index * down % up
        # Pad the input locally so taps past either end read zeros.
        first = int(base[0]) - half_width + 1
        last = int(base[-1]) + half_width + 1
        lead, trail = max(0, -first), max(0, last - len(samples))
        window = np.asarray(samples[max(0, first) : min(len(samples), last)], dtype=np.float64)
        window = np.pad(window, (lead, trail))
        taps = (base - first)[:, None] + offsets[None, :]
        output[block_start - start : block_stop - start] = np.einsum(
            "ij,ij->i", weights[phase], window[taps]
        )
    return output


def resample(samples: FloatArray, source_rate: int, target_rate: int) -> FloatArray:
    """``samples`` at ``source_rate`` converted to ``target_rate`` (windowed sinc)."""
    if len(samples) == 0:
        return np.zeros(0, dtype=np.float64)
    length = resampled_length(len(samples), source_rate, target_rate)
    return resample_span(samples, source_rate, target_rate, 0, length)


def to_analysis_rate(pcm: Pcm) -> FloatArray:
    """The clip as float64 at 16 kHz: the rate every analysis here runs at."""
    return resample(pcm_to_float(pcm), pcm.sample_rate, ANALYSIS_RATE)


def frame_rms_db(samples: FloatArray, sample_rate: int) -> FloatArray:
    """RMS level of 25 ms frames every 10 ms, in dBFS (digital silence reads -120)."""
    frame = max(1, round(FRAME_SECONDS * sample_rate))
    hop = max(1, round(HOP_SECONDS * sample_rate))
    if len(samples) < frame:
        if len(samples) == 0:
            return np.zeros(0, dtype=np.float64)
        frame = len(samples)
    count = 1 + (len(samples) - frame) // hop
    # Cumulative sums of squares give every frame's energy without building a frame matrix.
    squares = np.concatenate(([0.0], np.cumsum(samples.astype(np.float64) ** 2)))
    starts = np.arange(count) * hop
    energy = (squares[starts + frame] - squares[starts]) / frame
    return 10.0 * np.log10(np.maximum(energy, 1e-12))


def active_frames(levels_db: FloatArray) -> npt.NDArray[np.bool_]:
    """Frames that carry sound: above an absolute floor and within reach of the loud frames."""
    if len(levels_db) == 0:
        return np.zeros(0, dtype=bool)
    loud = float(np.percentile(levels_db, 95))
    threshold = max(SILENCE_DBFS, loud - ACTIVE_BELOW_PEAK_DB)
    return np.asarray(levels_db > threshold)


def f0_contour(samples: FloatArray, sample_rate: int, frame_period_ms: float = 5.0) -> FloatArray:
    """F0 in Hz per frame (0 where unvoiced): WORLD dio refined by stonemask."""
    if len(samples) < sample_rate // 20:
        return np.zeros(0, dtype=np.float64)
    signal = np.ascontiguousarray(samples, dtype=np.float64)
    coarse, times = pyworld.dio(
        signal,
        sample_rate,
        f0_floor=F0_FLOOR_HZ,
        f0_ceil=F0_CEIL_HZ,
        frame_period=frame_period_ms,
    )
    return np.asarray(pyworld.stonemask(signal, coarse, times, sample_rate), dtype=np.float64)


def longest_run(mask: npt.NDArray[np.bool_]) -> int:
    """Length of the longest stretch of True values."""
    best = current = 0
    for value in mask.tolist():
        current = current + 1 if value else 0
        best = max(best, current)
    return best


def bridge_gaps(mask: npt.NDArray[np.bool_], max_gap: int) -> npt.NDArray[np.bool_]:
    """``mask`` with runs of at most ``max_gap`` False values between True values filled in."""
    bridged = mask.copy()
    true_positions = np.flatnonzero(mask)
    if len(true_positions) < 2:
        return bridged
    gaps = np.diff(true_positions)
    for position, gap in zip(true_positions[:-1], gaps, strict=True):
        if 1 < gap <= max_gap + 1:
            bridged[position + 1 : position + gap] = True
    return bridged


@dataclass(frozen=True)
class ProsodyFeatures:
    """How a clip is spoken, in speaker-independent units where possible.

    F0 spread and range are in semitones (a ratio, so comparable across voices); the F0 level is
    in Hz and needs a baseline to mean anything. ``syllable_rate`` counts energy peaks per
    second of sound, a proxy for speaking rate.
    """

    duration_seconds: float
    active_seconds: float
    voiced_seconds: float
    f0_mean_hz: float  # 0 when nothing is voiced
    f0_median_hz: float
    f0_sd_semitones: float
    f0_range_semitones: float  # 5th to 95th percentile
    energy_sd_db: float  # spread of frame levels while sound is present
    level_dbfs: float  # loudness of the loud frames (the 90th percentile)
    syllable_rate: float

    @property
    def voiced(self) -> bool:
        return self.voiced_seconds >= 0.2


def syllable_peaks(levels_db: FloatArray, active: npt.NDArray[np.bool_]) -> int:
    """Count energy peaks that look like syllable nuclei.

    A peak must be the highest frame within ±60 ms (syllables are rarely closer) and rise at
    least 4 dB over the lowest frame within ±150 ms (the consonant or pause around it).
    """
    if len(levels_db) < 3:
        return 0
    smoothed = np.convolve(levels_db, np.ones(3) / 3, mode="same")
    count = 0
    near, far = 6, 15
    for index in np.flatnonzero(active).tolist():
        low, high = max(0, index - near), min(len(smoothed), index + near + 1)
        if smoothed[index] < smoothed[low:high].max():
            continue
        if index > low and smoothed[index] == smoothed[index - 1]:
            continue  # a plateau counts once
        valley = smoothed[max(0, index - far) : min(len(smoothed), index + far + 1)].min()
        if smoothed[index] - valley >= 4.0:
            count += 1
    return count


def prosody_features(pcm: Pcm) -> ProsodyFeatures:
    """Measure F0, energy and rate of a clip (any sample rate; analysed at 16 kHz)."""
    samples = to_analysis_rate(pcm)
    duration = len(samples) / ANALYSIS_RATE
    levels = frame_rms_db(samples, ANALYSIS_RATE)
    active = active_frames(levels)
    active_seconds = float(active.sum()) * HOP_SECONDS
    f0 = f0_contour(samples, ANALYSIS_RATE, frame_period_ms=HOP_SECONDS * 1000)
    # dio reports F0 in quiet frames too (breath, noise); only trust it where there is sound.
    frames = min(len(f0), len(active))
    voiced_f0 = f0[:frames][(f0[:frames] > 0) & active[:frames]]
    if len(voiced_f0) >= 3:
        semitones = 12.0 * np.log2(voiced_f0 / 100.0)
        low, high = np.percentile(semitones, [5, 95])
        f0_mean = float(np.mean(voiced_f0))
        f0_median = float(np.median(voiced_f0))
        f0_sd = float(np.std(semitones))
        f0_range = float(high - low)
    else:
        f0_mean = f0_median = f0_sd = f0_range = 0.0
    if active.any():
        active_levels = levels[active]
        energy_sd = float(np.std(active_levels))
        level = float(np.percentile(active_levels, 90))
    else:
        energy_sd = 0.0
        level = float(levels.max()) if len(levels) else -120.0
    peaks = syllable_peaks(levels, active)
    return ProsodyFeatures(
        duration_seconds=duration,
        active_seconds=active_seconds,
        voiced_seconds=len(voiced_f0) * HOP_SECONDS,
        f0_mean_hz=f0_mean,
        f0_median_hz=f0_median,
        f0_sd_semitones=f0_sd,
        f0_range_semitones=f0_range,
        energy_sd_db=energy_sd,
        level_dbfs=level,
        syllable_rate=peaks / active_seconds if active_seconds >= 0.5 else 0.0,
    )


def quiet_cut_points(
    samples: npt.NDArray[np.int16] | FloatArray,
    sample_rate: int,
    max_chunk_seconds: float,
    search_seconds: float,
) -> list[int]:
    """Sample indices that split a long signal into chunks of at most ``max_chunk_seconds``.

    Each cut falls at the quietest 10 ms frame within the last ``search_seconds`` of its
    chunk, so chunk boundaries land in pauses rather than in the middle of a word. Returns the
    boundaries including 0 and ``len(samples)``.
    """
    total = len(samples)
    max_chunk = int(max_chunk_seconds * sample_rate)
    search = int(min(search_seconds, max_chunk_seconds / 2) * sample_rate)
    hop = max(1, int(HOP_SECONDS * sample_rate))
    cuts = [0]
    start = 0
    while total - start > max_chunk:
        window_start = start + max_chunk - search
        window = np.asarray(samples[window_start : start + max_chunk], dtype=np.float64)
        frames = len(window) // hop
        energy = (window[: frames * hop].reshape(frames, hop) ** 2).sum(axis=1)
        # The latest of the quietest frames: chunks stay as long as allowed.
        quietest = frames - 1 - int(np.argmin(energy[::-1]))
        cut = window_start + quietest * hop + hop // 2
        cuts.append(cut)
        start = cut
    cuts.append(total)
    return cuts
