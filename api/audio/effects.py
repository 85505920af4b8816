"""Volume, speed, pitch, joining, silence and level measurements on mono int16 PCM.

Volume mappings (the dialects' knobs onto decibels):

* seed 001 ``volume`` 0-100, 50 = unchanged: the amplitude is scaled by ``volume / 50``, so
  0 is silence, 25 is -6 dB, 50 is 0 dB and 100 is +6.02 dB (``volume_percent_to_db``).
* seed 004 (Fish) ``volume`` -20..20 is already decibels (``fish_volume_to_db``).

A positive gain would clip loud speech, so a boost goes through a peak limiter: the gain dips
smoothly (over a few milliseconds) wherever a peak would pass -1 dBFS. Quiet passages get the
full boost, loud ones stay just under full scale, and no sample is cut flat.

Speed changes tempo without changing pitch (libavfilter's ``atempo``, a WSOLA time-stretch,
chained for factors below 0.5); pitch shifts resample by the factor and then time-stretch back
to the original length, so the duration is unchanged. Both run in-process (``api.audio.filters``)
and are blocking CPU work: callers run them off the event loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from api.audio.filters import Filter, resample_filter, run_chain
from api.audio.resampling import resample
from api.engines.base import Pcm
from api.errors import InvalidInputError

FULL_SCALE: Final = 32768.0
# A boost is limited to peaks of -1 dBFS (headroom for lossy encoders' overshoot).
LIMITER_CEILING: Final = 10 ** (-1 / 20)

MIN_SPEED: Final = 0.25
MAX_SPEED: Final = 4.0
MIN_PITCH: Final = 0.5
MAX_PITCH: Final = 2.0
DEFAULT_PAUSE_MS: Final = 150
DEFAULT_FADE_MS: Final = 5

FloatArray = npt.NDArray[np.float64]


# --- volume -----------------------------------------------------------------------------------


def volume_percent_to_db(volume: float) -> float:
    """Seed 001's 0-100 volume (50 = unchanged) as a gain in dB; 0 gives ``-inf`` (silence)."""
    if not 0 <= volume <= 100:
        raise InvalidInputError("volume must be between 0 and 100", param="volume")
    return -math.inf if volume == 0 else 20 * math.log10(volume / 50)


def fish_volume_to_db(volume: float) -> float:
    """Fish Audio's volume (-20..20) is a gain in dB already; validated here."""
    if not -20 <= volume <= 20:
        raise InvalidInputError("volume must be between -20 and 20", param="volume")
    return float(volume)


def apply_volume(pcm: Pcm, gain_db: float) -> Pcm:
    """``pcm`` louder or quieter by ``gain_db`` (``-inf`` = silence); a boost never clips:
    peaks it would push past -1 dBFS are held there by ``limit_peaks``."""
    if gain_db == 0 or len(pcm.samples) == 0:
        return pcm
    if gain_db == -math.inf:
        return Pcm(np.zeros_like(pcm.samples), pcm.sample_rate)
    if math.isnan(gain_db) or gain_db == math.inf:
        raise ValueError("gain must be a finite number of dB or -inf")
    scaled = _to_float(pcm.samples) * (10 ** (gain_db / 20))
    if gain_db > 0:
        scaled = limit_peaks(scaled, pcm.sample_rate)
    return Pcm(_to_int16(scaled), pcm.sample_rate)


def limit_peaks(
    signal: FloatArray, rate: int, ceiling: float = LIMITER_CEILING, block_ms: float = 5.0
) -> FloatArray:
    """Turn the gain down smoothly around peaks above ``ceiling`` (full scale = 1.0).

    A per-block gain (the most any sample in the block needs) is spread to the neighbouring
    blocks, so the gain falls before a peak and rises after it, then interpolated linearly
    between block centres: every sample gets at most the gain its block needs, so nothing
    passes the ceiling, and the waveform keeps its shape (no flat tops, unlike clipping).
    """
    magnitude = np.abs(signal)
    if len(signal) == 0 or magnitude.max() <= ceiling:
        return signal
    block = max(1, round(block_ms * rate / 1000))
    count = -(-len(signal) // block)
    padded = np.zeros(count * block)
    padded[: len(signal)] = magnitude
    block_peak = padded.reshape(count, block).max(axis=1)
    needed = np.minimum(1.0, ceiling / np.maximum(block_peak, 1e-12))
    spread = needed.copy()
    for shift in (1, 2):
        spread[shift:] = np.minimum(spread[shift:], needed[:-shift])
        spread[:-shift] = np.minimum(spread[:-shift], needed[shift:])
    centres = np.arange(count) * block + (block - 1) / 2
    gain = np.interp(np.arange(len(signal)), centres, spread)
    return np.clip(signal * gain, -ceiling, ceiling)


def normalize_loudness(
    pcm: Pcm, target_rms_dbfs: float = -20.0, peak_ceiling_dbfs: float = -1.0
) -> Pcm:
    """Scale ``pcm`` to an RMS level, lowering the gain if peaks would pass the ceiling.

    Engines speak at different levels (espeak is hot, Piper quieter); this evens them out.
    Silence is returned unchanged.
    """
    rms = rms_dbfs(pcm)
    if rms == -math.inf:
        return pcm
    gain = min(target_rms_dbfs - rms, peak_ceiling_dbfs - peak_dbfs(pcm))
    return Pcm(_to_int16(_to_float(pcm.samples) * 10 ** (gain / 20)), pcm.sample_rate)


# --- speed and pitch --------------------------------------------------------------------------


def change_speed(pcm: Pcm, factor: float) -> Pcm:
    """Play ``factor`` times faster (0.25-4.0) at the same pitch; duration becomes 1/factor."""
    return change_speed_and_pitch(pcm, speed=factor, pitch=1.0)


def change_pitch(pcm: Pcm, factor: float) -> Pcm:
    """Shift the pitch by ``factor`` (0.5-2.0; 2.0 = an octave up) keeping the duration."""
    return change_speed_and_pitch(pcm, speed=1.0, pitch=factor)


def change_speed_and_pitch(pcm: Pcm, *, speed: float = 1.0, pitch: float = 1.0) -> Pcm:
    """Both at once, in one pass (one time-stretch instead of two: fewer artefacts).

    Pitch: reinterpret the samples at ``rate · pitch`` (higher and shorter), resample back to
    ``rate``, then stretch the tempo by ``speed / pitch`` to land on the wanted duration.
    """
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise InvalidInputError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}", param="speed")
    if not MIN_PITCH <= pitch <= MAX_PITCH:
        raise InvalidInputError(f"pitch must be between {MIN_PITCH} and {MAX_PITCH}", param="pitch")
    if (speed == 1.0 and pitch == 1.0) or len(pcm.samples) == 0:
        return pcm
    rate = pcm.sample_rate
    filters: list[Filter] = []
    if pitch != 1.0:
        filters += [("asetrate", str(round(rate * pitch))), resample_filter(rate)]
    filters += _atempo_chain(speed / pitch)
    return run_chain(pcm, filters, rate)


def _atempo_chain(tempo: float) -> list[Filter]:
    """``atempo`` takes 0.5-100 per instance; slower tempi are a chain of 0.5 steps."""
    filters: list[Filter] = []
    while tempo < 0.5:
        filters.append(("atempo", "0.5"))
        tempo /= 0.5
    if abs(tempo - 1.0) > 1e-9:
        filters.append(("atempo", f"{tempo:.9f}"))
    return filters


# --- time ----------------------------------------------------------------------------------------


def duration_ms(pcm: Pcm) -> int:
    return pcm.duration_ms


def silence(ms: float, rate: int) -> Pcm:
    """``ms`` milliseconds of digital silence at ``rate`` Hz."""
    return Pcm(np.zeros(max(0, round(ms * rate / 1000)), dtype=np.int16), rate)


def concatenate(
    pcms: Sequence[Pcm],
    *,
    pause_ms: float = DEFAULT_PAUSE_MS,
    sample_rate: int | None = None,
    fade_ms: float = DEFAULT_FADE_MS,
) -> Pcm:
    """Join clips with ``pause_ms`` of silence between them, at ``sample_rate`` (default: the
    first clip's rate; others are resampled). Each join gets a ``fade_ms`` fade out and in, so a
    clip that stops mid-waveform does not click. No clips → empty PCM (``sample_rate`` or 24 kHz).
    """
    rate = sample_rate or (pcms[0].sample_rate if pcms else 24000)
    if not pcms:
        return Pcm.empty(rate)
    gap = silence(pause_ms, rate).samples
    fade = round(fade_ms * rate / 1000)
    pieces: list[np.ndarray] = []
    last = len(pcms) - 1
    for index, pcm in enumerate(pcms):
        samples = resample(pcm, rate).samples
        if fade and (index > 0 or index < last):
            samples = _fade_edges(samples, fade, fade_in=index > 0, fade_out=index < last)
        if index > 0 and len(gap):
            pieces.append(gap)
        pieces.append(samples)
    return Pcm(np.concatenate(pieces).astype(np.int16, copy=False), rate)


def _fade_edges(samples: np.ndarray, length: int, *, fade_in: bool, fade_out: bool) -> np.ndarray:
    length = min(length, len(samples) // 2)
    if length == 0:
        return samples
    faded = samples.astype(np.float64)
    ramp = np.linspace(0.0, 1.0, length, endpoint=False)
    if fade_in:
        faded[:length] *= ramp
    if fade_out:
        faded[-length:] *= ramp[::-1]
    return np.round(faded).astype(np.int16)


def trim_silence(
    pcm: Pcm, *, threshold_dbfs: float = -45.0, keep_ms: float = 30.0, frame_ms: float = 10.0
) -> Pcm:
    """Cut leading and trailing stretches quieter than ``threshold_dbfs`` (10 ms RMS frames),
    keeping ``keep_ms`` of margin so words do not start abruptly. All silence → empty PCM."""
    samples = pcm.samples
    frame = max(1, round(frame_ms * pcm.sample_rate / 1000))
    count = len(samples) // frame + (1 if len(samples) % frame else 0)
    if count == 0:
        return pcm
    padded = np.zeros(count * frame, dtype=np.float64)
    padded[: len(samples)] = samples
    frame_rms = np.sqrt(np.mean((padded.reshape(count, frame) / FULL_SCALE) ** 2, axis=1))
    loud = np.flatnonzero(frame_rms > 10 ** (threshold_dbfs / 20))
    if len(loud) == 0:
        return Pcm.empty(pcm.sample_rate)
    keep = round(keep_ms * pcm.sample_rate / 1000)
    start = max(0, loud[0] * frame - keep)
    end = min(len(samples), (loud[-1] + 1) * frame + keep)
    return Pcm(samples[start:end].copy(), pcm.sample_rate)


# --- measurements -------------------------------------------------------------------------------


def rms_dbfs(pcm: Pcm) -> float:
    """RMS level relative to full scale (a full-scale square wave is 0 dBFS); ``-inf`` if silent."""
    if len(pcm.samples) == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(_to_float(pcm.samples) ** 2)))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def peak_dbfs(pcm: Pcm) -> float:
    """Highest absolute sample relative to full scale; ``-inf`` if silent."""
    if len(pcm.samples) == 0:
        return -math.inf
    peak = int(np.max(np.abs(pcm.samples.astype(np.int32))))
    return 20 * math.log10(peak / FULL_SCALE) if peak else -math.inf


def is_silent(pcm: Pcm, threshold_dbfs: float = -60.0) -> bool:
    return rms_dbfs(pcm) < threshold_dbfs


def dominant_frequency_hz(pcm: Pcm) -> float:
    """The strongest frequency (Hz) of a Hann-windowed FFT, refined by parabolic interpolation
    between bins; 0.0 for empty or silent input. Meant for tones and sanity checks."""
    samples = _to_float(pcm.samples)
    if len(samples) < 4 or not samples.any():
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[0] = 0.0  # ignore DC
    peak = int(np.argmax(spectrum))
    offset = 0.0
    if 0 < peak < len(spectrum) - 1:
        left, centre, right = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
        denominator = left - 2 * centre + right
        offset = 0.5 * (left - right) / denominator if denominator else 0.0
    return float((peak + offset) * pcm.sample_rate / len(samples))


# --- helpers ------------------------------------------------------------------------------------


def _to_float(samples: np.ndarray) -> FloatArray:
    return samples.astype(np.float64) / FULL_SCALE


def _to_int16(signal: FloatArray) -> np.ndarray:
    return np.clip(np.round(signal * FULL_SCALE), -32768, 32767).astype(np.int16)
