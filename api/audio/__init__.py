"""The audio pipeline: decode what users upload, encode what they download, and shape speech.

Everything speaks ``api.engines.base.Pcm`` (mono int16 at a sample rate):

* ``decode`` (``decoding.py``): any supported upload → PCM, probed by magic bytes
  (``probe_format``), never by file name; bad input is a 415, overlong audio a 400.
* ``encode`` (``encoding.py``): PCM → mp3 / wav / pcm / opus / aac / flac at 8-48 kHz;
  ``content_type`` and ``file_extension`` (``formats.py``) name the results.
* ``open_stream_encoder`` / ``encode_stream`` (``streaming.py``): the same formats chunk by
  chunk, for streaming responses.
* ``resample`` (``resampling.py``); volume, speed, pitch, joining, trimming and levels
  (``effects.py``).
* ``split_text``, ``split_sentences``, ``count_characters`` (``text.py``): long text into
  engine-sized pieces, and the billing unit.

The modules are named for the activity (``decoding``, ``encoding``, ``resampling``) so that
``api.audio.decode`` is unambiguously the function: a module of the same name would be hidden
behind it, and ``mock.patch("api.audio.decode.X")`` would patch the wrong object.

Which library does what: libsndfile (soundfile) decodes WAV/FLAC/MP3/Ogg in-process and writes
FLAC; lameenc writes MP3; PyAV's libavfilter resamples and time-stretches in-process; the static
ffmpeg binary from imageio-ffmpeg, as a subprocess, decodes M4A/AAC/WebM and encodes Opus and
AAC. There is no asyncio here: every function blocks the calling thread with CPU work or a
subprocess, so callers on an event loop run them in a worker thread
(``await anyio.to_thread.run_sync(...)`` / ``run_in_executor``).
"""

from api.audio.decoding import MAX_DECODED_SAMPLES, Decoded, decode, decode_pcm
from api.audio.effects import (
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
    rms_dbfs,
    silence,
    trim_silence,
    volume_percent_to_db,
)
from api.audio.encoding import codec_sample_rate, default_bitrate_kbps, encode
from api.audio.ffmpeg import EncoderError
from api.audio.formats import (
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    SAMPLE_RATES,
    OutputFormat,
    content_type,
    file_extension,
    is_output_format,
    probe_format,
)
from api.audio.resampling import StreamingResampler, resample
from api.audio.streaming import StreamingEncoder, encode_stream, open_stream_encoder
from api.audio.text import count_characters, split_sentences, split_text

__all__ = [
    "INPUT_FORMATS",
    "MAX_DECODED_SAMPLES",
    "OUTPUT_FORMATS",
    "SAMPLE_RATES",
    "Decoded",
    "EncoderError",
    "OutputFormat",
    "StreamingEncoder",
    "StreamingResampler",
    "apply_volume",
    "change_pitch",
    "change_speed",
    "change_speed_and_pitch",
    "codec_sample_rate",
    "concatenate",
    "content_type",
    "count_characters",
    "decode",
    "decode_pcm",
    "default_bitrate_kbps",
    "dominant_frequency_hz",
    "duration_ms",
    "encode",
    "encode_stream",
    "file_extension",
    "fish_volume_to_db",
    "is_output_format",
    "is_silent",
    "normalize_loudness",
    "open_stream_encoder",
    "peak_dbfs",
    "probe_format",
    "resample",
    "rms_dbfs",
    "silence",
    "split_sentences",
    "split_text",
    "trim_silence",
    "volume_percent_to_db",
]
