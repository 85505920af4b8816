"""Subtitles from a transcript: SubRip (``.srt``) and WebVTT (``.vtt``), one cue per segment.

Times come from the recogniser's segments (milliseconds). A transcript without segments (a
provider that answers text only) becomes one cue spanning the whole audio. Cue text is kept on
one line, and an arrow inside it is broken up, so no recognised text can end a cue early or
fake a timing line.
"""

from __future__ import annotations

from api.engines.base import Transcript


def timestamp(ms: int, *, separator: str = ",") -> str:
    """``01:02:03,456`` (SRT) or, with ``separator="."``, ``01:02:03.456`` (WebVTT)."""
    ms = max(0, int(ms))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def cues(transcript: Transcript) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of each cue, in order; empty texts are left out."""
    if transcript.segments:
        timed = [(s.start_ms, max(s.end_ms, s.start_ms), s.text) for s in transcript.segments]
    else:
        timed = [(0, transcript.duration_ms, transcript.text)]
    return [(start, end, text) for start, end, raw in timed if (text := _one_line(raw))]


def to_srt(transcript: Transcript) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each."""
    blocks = [
        f"{index}\n{timestamp(start)} --> {timestamp(end)}\n{text}\n"
        for index, (start, end, text) in enumerate(cues(transcript), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    blocks = [
        f"{timestamp(start, separator='.')} --> {timestamp(end, separator='.')}\n{text}\n"
        for start, end, text in cues(transcript)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("-->", "->")
