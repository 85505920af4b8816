"""Object keys: the generated shape (seed 001's audio/tts/20251230/xxx.mp3) and the safety gate."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.errors import InvalidInputError
from api.storage.keys import (
    content_type_for_key,
    is_valid_key,
    new_object_key,
    normalize_extension,
    validate_key,
)

GENERATED_KEY = re.compile(
    r"audio/(?P<kind>[a-z0-9_-]+)/(?P<day>\d{8})/(?P<id>[0-9a-f]{32})\.(?P<ext>\w+)"
)


def test_new_key_has_the_seed_shape() -> None:
    key = new_object_key("tts", "mp3", now=datetime(2025, 12, 30, 10, 30, tzinfo=UTC))

    match = GENERATED_KEY.fullmatch(key)
    assert match is not None, key
    assert match["kind"] == "tts"
    assert match["day"] == "20251230"
    assert match["ext"] == "mp3"
    assert validate_key(key) == key


def test_new_keys_are_unique() -> None:
    keys = {new_object_key("asr", "wav") for _ in range(1000)}
    assert len(keys) == 1000


def test_the_day_is_the_utc_day() -> None:
    # 01:00 in UTC+8 on the 31st is still the 30th in UTC.
    beijing = timezone(timedelta(hours=8))
    key = new_object_key("voice", "wav", now=datetime(2025, 12, 31, 1, 0, tzinfo=beijing))
    assert key.startswith("audio/voice/20251230/")


def test_extension_is_normalized() -> None:
    assert new_object_key("upload", ".MP3").endswith(".mp3")
    assert normalize_extension(" Flac ") == "flac"


@pytest.mark.parametrize("ext", ["exe", "php", "html", "svg", "", "mp3/../x", "mp3.exe", "m p3"])
def test_extensions_outside_the_allow_list_are_refused(ext: str) -> None:
    with pytest.raises(InvalidInputError):
        new_object_key("tts", ext)


@pytest.mark.parametrize(
    "kind", ["", "TTS", "a/b", "..", "../tts", "tts ", "t.t", "x" * 17, "语音", "tts\n"]
)
def test_bad_kinds_are_refused(kind: str) -> None:
    with pytest.raises(InvalidInputError):
        new_object_key(kind, "mp3")


@pytest.mark.parametrize("kind", ["tts", "asr", "voice", "sed", "upload", "clone_sample", "a-1"])
def test_good_kinds_are_accepted(kind: str) -> None:
    assert new_object_key(kind, "wav").startswith(f"audio/{kind}/")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "..",
        "../etc/passwd",
        "audio/../../etc/passwd",
        "audio/tts/..",
        "audio/tts/x..mp3",
        "/etc/passwd",
        "/audio/tts/x.mp3",
        "audio\\tts\\x.mp3",
        "audio/tts/..\\x.mp3",
        "audio//tts/x.mp3",
        "audio/tts/",
        "audio/.hidden",
        "audio/tts/.tmp-abc",
        "audio/tts/x y.mp3",
        "audio/tts/x%2f.mp3",
        "audio/tts/x\x00.mp3",
        "audio/tts/\u00fc.mp3",
        "audio/tts/x.mp3?sig=1",
        "C:/windows/x.mp3",
        "a" * 256,
    ],
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_key(key)
    assert not is_valid_key(key)


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        validate_key(None)  # type: ignore[arg-type]


@given(st.text(alphabet=st.sampled_from("ab./\\_-:%~\x00 "), max_size=40))
def test_an_accepted_key_never_leaves_the_root(key: str) -> None:
    root = Path("/srv/objects")
    if is_valid_key(key):
        resolved = Path(os.path.normpath(root / key))
        assert resolved.is_relative_to(root)
        assert resolved != root
        assert ".." not in key.split("/")


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("audio/tts/20251230/a.mp3", "audio/mpeg"),
        ("audio/tts/20251230/a.wav", "audio/wav"),
        ("audio/tts/20251230/a.opus", "audio/ogg"),
        ("audio/asr/20251230/a.json", "application/json"),
        ("audio/asr/20251230/a.unknown", "application/octet-stream"),
        ("audio/asr/20251230/noext", "application/octet-stream"),
    ],
)
def test_content_type_follows_the_extension(key: str, content_type: str) -> None:
    assert content_type_for_key(key) == content_type
