"""Volume, speed, pitch, joining, silence and level helpers; resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from api.audio import (
    StreamingResampler,
    apply_volume,
    change_pitch,
    change_speed,
    change_speed_and_pitch,
    concatenate,
    dominant_frequency_hz,
    duration_ms,
    fish_volume_to_db,
    is_silent,
    normalize_loudness,
    peak_dbfs,
    resample,
    rms_dbfs,
    silence,
    trim_silence,
    volume_percent_to_db,
)
from api.engines.base import Pcm
from api.errors import InvalidInputError
from tests.audio.audio_helpers import harmonic_voice, peak_frequency, tone

# --- volume --------------------------------------------------------------------------------------


def test_seed_001_volume_maps_50_to_unchanged_0_to_silence_100_to_plus_6_db():
    assert volume_percent_to_db(50) == 0.0
    assert volume_percent_to_db(0) == -math.inf
    assert volume_percent_to_db(25) == pytest.approx(-6.02, abs=0.01)
    assert volume_percent_to_db(100) == pytest.approx(6.02, abs=0.01)
    assert volume_percent_to_db(75) == pytest.approx(3.52, abs=0.01)
    for bad in (-1, 101):
        with pytest.raises(InvalidInputError):
            volume_percent_to_db(bad)


def test_fish_volume_is_decibels():
    assert fish_volume_to_db(-20) == -20.0
    assert fish_volume_to_db(7) == 7.0
    with pytest.raises(InvalidInputError):
        fish_volume_to_db(21)


def test_apply_volume_changes_the_level_by_the_gain():
    quiet = tone(440, 1.0, 16000, level=0.1)
    assert rms_dbfs(apply_volume(quiet, -6.0)) == pytest.approx(rms_dbfs(quiet) - 6.0, abs=0.05)
    assert rms_dbfs(apply_volume(quiet, 12.0)) == pytest.approx(rms_dbfs(quiet) + 12.0, abs=0.05)
    assert apply_volume(quiet, 0.0) is quiet
    assert not apply_volume(quiet, -math.inf).samples.any()


def test_boosting_never_clips_and_keeps_the_boost_where_there_is_room():
    quiet = tone(440, 1.0, 16000, level=0.1).samples
    loud = tone(440, 0.3, 16000, level=0.9).samples
    speech_like = Pcm(np.concatenate([quiet, loud, quiet]), 16000)
    boosted = apply_volume(speech_like, 6.0).samples
    assert peak_dbfs(Pcm(boosted, 16000)) <= -0.99  # the -1 dBFS ceiling holds
    assert np.sum(np.abs(boosted.astype(int)) >= 32767) == 0  # nothing pinned at full scale
    # The quiet parts got the whole +6 dB (away from the loud burst's gain ramp).
    before = Pcm(speech_like.samples[1000:14000], 16000)
    after = Pcm(boosted[1000:14000], 16000)
    assert rms_dbfs(after) == pytest.approx(rms_dbfs(before) + 6.0, abs=0.05)
    # The burst keeps its sine shape (no flat tops): its spectrum is still one clean peak.
    burst = boosted[16000 + 800 : 16000 + 4000].astype(float)
    spectrum = np.abs(np.fft.rfft(burst * np.hanning(len(burst))))
    above = np.fft.rfftfreq(len(burst), 1 / 16000) > 800  # the 3rd harmonic would be 1320 Hz
    assert spectrum[above].max() < spectrum.max() * 1e-2
    # Below the ceiling nothing is limited at all.
    small = tone(440, 0.1, 16000, level=0.2)
    expected = np.round(small.samples * 10 ** (6 / 20))
    assert np.abs(apply_volume(small, 6.0).samples - expected).max() <= 1


def test_normalize_loudness_reaches_the_target_without_passing_the_ceiling():
    quiet = tone(440, 1.0, 16000, level=0.01)
    assert rms_dbfs(normalize_loudness(quiet, -20.0)) == pytest.approx(-20.0, abs=0.1)
    limited = normalize_loudness(quiet, target_rms_dbfs=0.0, peak_ceiling_dbfs=-1.0)
    assert peak_dbfs(limited) == pytest.approx(-1.0, abs=0.1)
    assert normalize_loudness(silence(100, 16000)).samples.sum() == 0


# --- speed and pitch ----------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.25, 0.5, 0.8, 1.25, 2.0, 3.0, 4.0])
def test_speed_changes_duration_by_the_factor_and_keeps_the_pitch(factor: float):
    source = tone(440, 2.0, 24000)
    faster = change_speed(source, factor)
    assert faster.sample_rate == source.sample_rate
    assert faster.duration_seconds == pytest.approx(source.duration_seconds / factor, rel=0.03)
    assert peak_frequency(faster.samples, faster.sample_rate) == pytest.approx(440, rel=0.03)


@pytest.mark.parametrize("factor", [0.5, 0.75, 1.5, 2.0])
def test_pitch_moves_the_tone_by_the_factor_and_keeps_the_duration(factor: float):
    source = tone(440, 2.0, 24000)
    shifted = change_pitch(source, factor)
    assert shifted.duration_seconds == pytest.approx(source.duration_seconds, rel=0.03)
    assert peak_frequency(shifted.samples, 24000) == pytest.approx(440 * factor, rel=0.03)


def test_speed_and_pitch_together_on_a_voiced_sound():
    voice = harmonic_voice(150, 2.0, 22050)
    changed = change_speed_and_pitch(voice, speed=1.5, pitch=1.25)
    assert changed.duration_seconds == pytest.approx(2.0 / 1.5, rel=0.03)
    assert peak_frequency(changed.samples, 22050) == pytest.approx(150 * 1.25, rel=0.03)
    # No chipmunk: a pure speed change keeps the fundamental.
    assert peak_frequency(change_speed(voice, 2.0).samples, 22050) == pytest.approx(150, rel=0.03)


def test_speed_and_pitch_outside_the_ranges_are_refused():
    pcm = tone(440, 0.1, 16000)
    for kwargs in ({"speed": 0.2}, {"speed": 4.5}, {"pitch": 0.4}, {"pitch": 2.1}):
        with pytest.raises(InvalidInputError):
            change_speed_and_pitch(pcm, **kwargs)
    assert change_speed(pcm, 1.0) is pcm
    assert change_speed(Pcm.empty(16000), 2.0).duration_ms == 0


# --- joining and trimming -----------------------------------------------------------------------


def test_concatenate_inserts_pauses_and_matches_rates():
    first, second = tone(440, 1.0, 24000), tone(660, 0.5, 16000)
    joined = concatenate([first, second], pause_ms=200)
    assert joined.sample_rate == 24000
    assert duration_ms(joined) == 1000 + 200 + 500
    gap = joined.samples[24000 : 24000 + 4800]
    assert not gap.any()
    # The joins fade, so nothing jumps at the edges of the pause.
    assert abs(int(joined.samples[24000 - 1])) < 500
    assert concatenate([first, second], pause_ms=0, sample_rate=8000).sample_rate == 8000
    assert concatenate([], sample_rate=16000).duration_ms == 0
    assert np.array_equal(concatenate([first]).samples, first.samples)


def test_silence_and_trim_silence():
    assert duration_ms(silence(250, 16000)) == 250
    padded = concatenate(
        [silence(500, 16000), tone(440, 1.0, 16000), silence(700, 16000)], pause_ms=0
    )
    trimmed = trim_silence(padded, keep_ms=20)
    assert trimmed.duration_seconds == pytest.approx(1.04, abs=0.02)
    assert trim_silence(silence(300, 16000)).duration_ms == 0


def test_levels_and_dominant_frequency():
    full = Pcm(np.array([32767, -32768] * 100, dtype=np.int16), 8000)
    assert rms_dbfs(full) == pytest.approx(0.0, abs=0.01)
    assert peak_dbfs(full) == pytest.approx(0.0, abs=0.01)
    assert rms_dbfs(tone(440, 1.0, 16000, level=0.5)) == pytest.approx(-9.03, abs=0.05)
    assert rms_dbfs(Pcm.empty(8000)) == -math.inf
    assert is_silent(silence(100, 8000)) and not is_silent(tone(440, 0.1, 8000))
    assert dominant_frequency_hz(tone(1234.5, 1.0, 16000)) == pytest.approx(1234.5, abs=1.0)
    assert dominant_frequency_hz(Pcm.empty(16000)) == 0.0


# --- resampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target"), [(22050, 48000), (48000, 8000), (44100, 16000), (24000, 22050)]
)
def test_resample_keeps_the_signal_and_the_length(source: int, target: int):
    pcm = tone(440, 1.5, source)
    out = resample(pcm, target)
    assert out.sample_rate == target
    assert abs(len(out.samples) - len(pcm.samples) * target / source) <= 1
    ideal = tone(440, out.duration_seconds, target).samples[: len(out.samples)]
    middle = slice(500, len(ideal) - 500)
    error = out.samples[middle].astype(float) - ideal[middle]
    assert np.sqrt(np.mean(error**2)) < 5  # out of ~7000 RMS: no delay, no distortion


def test_resampling_filters_out_what_the_new_rate_cannot_hold():
    above_nyquist = tone(5000, 1.0, 48000, level=0.5)
    out = resample(above_nyquist, 8000)
    assert rms_dbfs(Pcm(out.samples[200:-200], 8000)) < -80


def test_streaming_resampler_matches_the_one_shot_resampler():
    pcm = tone(440, 2.0, 22050)
    streaming = StreamingResampler(16000)
    pieces = [
        streaming.push(Pcm(pcm.samples[i : i + 3000], 22050)).samples for i in range(0, 44100, 3000)
    ]
    pieces.append(streaming.flush().samples)
    assert np.array_equal(np.concatenate(pieces), resample(pcm, 16000).samples)
    assert resample(pcm, 22050) is pcm
