"""Text splitting for long-text synthesis, sentence streaming, and the billing character count."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.audio import count_characters, split_sentences, split_text
from api.audio.text import (
    _CJK_CLASS,
    CLAUSE_MARKS,
    CLOSERS,
    OPENERS,
    SENTENCE_ENDS,
    _Cuts,
    is_cjk,
)


def locate(text: str, segments: list[str]) -> list[tuple[int, int]]:
    """Where each segment sits in ``text``, checking they are in-order slices with only
    whitespace between and around them (so nothing is lost, added or reordered)."""
    spans, position = [], 0
    for segment in segments:
        start = text.find(segment, position)
        assert start >= 0, (segment, text[position : position + 80])
        assert not text[position:start].strip(), f"lost {text[position:start]!r}"
        spans.append((start, start + len(segment)))
        position = start + len(segment)
    assert not text[position:].strip(), f"lost the tail {text[position:]!r}"
    return spans


def assert_good_split(text: str, segments: list[str], max_chars: int) -> list[tuple[int, int]]:
    assert all(0 < len(segment) <= max_chars for segment in segments)
    assert all(segment == segment.strip() for segment in segments)
    return locate(text, segments)


# --- hand examples -----------------------------------------------------------------------------


def test_chinese_sentences_are_packed_up_to_the_limit():
    text = "你好，世界！今天天气很好。我们去公园吧？好的；走吧……他说：“真的吗？”然后走了。"
    assert split_sentences(text) == [
        "你好，世界！",
        "今天天气很好。",
        "我们去公园吧？",
        "好的；",
        "走吧……",
        "他说：“真的吗？”",
        "然后走了。",
    ]
    assert split_text(text) == [text]
    assert split_text(text, 16) == [
        "你好，世界！今天天气很好。",
        "我们去公园吧？好的；走吧……",
        "他说：“真的吗？”然后走了。",
    ]


def test_english_sentences_respect_abbreviations_numbers_urls_and_emails():
    text = (
        "Hello Mr. Smith. The price is $3.14, i.e. cheap! Visit https://example.com/a?b=1. "
        "Write to bob.jones@example.com. It costs 1,000 yuan at 12:30. Approx. five people came."
    )
    assert split_sentences(text) == [
        "Hello Mr. Smith.",
        "The price is $3.14, i.e. cheap!",
        "Visit https://example.com/a?b=1.",
        "Write to bob.jones@example.com.",
        "It costs 1,000 yuan at 12:30.",
        "Approx. five people came.",
    ]


def test_mixed_chinese_and_english():
    text = "我们使用GPT-4模型。The latency is 12.5 ms，很快！详情见https://docs.example.com页面。"
    assert split_sentences(text) == [
        "我们使用GPT-4模型。",
        "The latency is 12.5 ms，很快！",
        "详情见https://docs.example.com页面。",
    ]


def test_falls_back_to_clauses_then_spaces_then_characters():
    clauses = "first part, second part, third part, fourth part"
    assert split_text(clauses, 25) == ["first part, second part,", "third part, fourth part"]
    words = "Hello world this is a long sentence without punctuation at all"
    assert split_text(words, 20) == [
        "Hello world this is",
        "a long sentence",
        "without punctuation",
        "at all",
    ]
    chinese = "这是一个没有标点符号的很长的中文句子我们需要在字符边界切割它"
    assert split_text(chinese, 10) == [
        "这是一个没有标点符号",
        "的很长的中文句子我们",
        "需要在字符边界切割它",
    ]


def test_numbers_urls_and_emails_are_never_cut_even_in_cjk_text():
    text = "价格是3.14元和1,000元，时间12:30，邮箱test@mail.com，网址https://a.cn/x。" * 3
    for max_chars in range(20, 60):
        joined = "\n".join(split_text(text, max_chars))
        for token in ("3.14", "1,000", "12:30", "test@mail.com", "https://a.cn/x"):
            assert joined.count(token) == 3, (max_chars, token)


def test_newlines_are_sentence_boundaries_and_list_numbers_are_not():
    text = "Title\n1. First item\n2. Second item\n\nLast paragraph"
    assert split_sentences(text) == ["Title", "1. First item", "2. Second item", "Last paragraph"]


def test_a_single_token_longer_than_the_limit_is_cut_as_a_last_resort():
    token = "x" * 25
    assert split_text(token, 10) == ["x" * 10, "x" * 10, "x" * 5]
    # …but never between a letter and its combining accent.
    accented = "e\u0301" * 8
    segments = split_text(accented, 5)
    assert all(not unicodedata.combining(segment[0]) for segment in segments)
    assert "".join(segments) == accented


def test_empty_and_whitespace():
    assert split_text("") == [] and split_text("  \n\t ") == []
    assert split_sentences("   ") == []
    with pytest.raises(ValueError):
        split_text("abc", 0)


def test_short_sentences_can_be_merged_for_streaming():
    text = "Hi. OK. This is a longer sentence here. 好。行。"
    assert split_sentences(text, min_chars=10) == [
        "Hi. OK. This is a longer sentence here.",
        "好。行。",
    ]


def test_ten_thousand_characters_of_mixed_text_split_at_sentence_ends():
    paragraph = (
        "语音合成技术已经广泛应用于智能客服、有声读物和导航系统。"
        "Text-to-speech systems convert written text into natural sounding speech. "
        "在2024年，市场规模达到了约3.5亿美元，增长率为12.5%。"
        "Visit https://example.com/tts?lang=zh for details, or mail support@example.com! "
        "用户可以调整语速、音调和音量，例如将语速设为1.25倍。"
    )
    text = (paragraph * (10_000 // len(paragraph) + 1))[:10_000]
    text = text[: text.rfind("。") + 1]
    assert len(text) > 9_900
    segments = split_text(text, 2000)
    assert_good_split(text, segments, 2000)
    assert len(segments) in (5, 6)
    assert all(len(segment) > 1900 for segment in segments[:-1])  # packed close to the limit
    assert all(segment[-1] in "。!." for segment in segments)  # every cut at a sentence end
    sentences = split_sentences(text)
    assert_good_split(text, sentences, 2000)
    assert len(sentences) > 200


def test_count_characters_is_code_points_after_nfc():
    assert count_characters("你好，世界！") == 6
    assert count_characters("Hello, world") == 12
    assert count_characters("e\u0301") == 1 == count_characters("é")
    assert count_characters("👍🏽") == 2  # a base emoji and a skin-tone modifier
    assert count_characters("") == 0


# --- properties ----------------------------------------------------------------------------------

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", min_size=1, max_size=12)
NUMBERS = st.sampled_from(["3.14", "1,000", "12:30", "2024", "0.5", "1,234,567.89", "10:45:30"])
URLS = st.sampled_from(["https://example.com/a?b=1&c=2", "http://x.cn/p/q.html", "www.test.org"])
EMAILS = st.sampled_from(["bob@example.com", "li.wei+tts@mail.example.cn"])
CJK = st.text(alphabet="你好世界语音合成测试中文句子我们今天天气", min_size=1, max_size=15)
SEPARATORS = st.sampled_from(
    [" ", " ", "  ", ", ", ". ", "! ", "? ", "; ", ": ", "\n", "。", "，", "！", "、", "？"]
)


@st.composite
def texts(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]]]:
    """Text built from tokens, with the spans of the tokens that must never be cut inside."""
    parts: list[str] = []
    protected: list[tuple[int, int]] = []
    position = 0
    previous_cjk = True
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.sampled_from(["word", "word", "cjk", "cjk", "number", "url", "email"]))
        token = draw(
            {"word": WORDS, "cjk": CJK, "number": NUMBERS, "url": URLS, "email": EMAILS}[kind]
        )
        is_cjk = kind == "cjk"
        if parts:
            # Latin tokens need a real separator between them, else they would merge into one.
            separator = draw(SEPARATORS)
            if not (is_cjk or previous_cjk) and separator in "。，！、？":
                separator += " "
            if (is_cjk or previous_cjk) and draw(st.booleans()):
                separator = ""
            if kind == "url" and not separator[-1:].isspace():
                separator += " "  # "…。https://" would be fine, but keep URLs cleanly delimited
            parts.append(separator)
            position += len(separator)
        parts.append(token)
        if not is_cjk:
            protected.append((position, position + len(token)))
        position += len(token)
        previous_cjk = is_cjk
    return "".join(parts), protected


@settings(max_examples=300, deadline=None)
@given(texts(), st.integers(1, 400))
def test_segments_fit_and_keep_every_character_in_order(sample, max_chars: int):
    text, _ = sample
    assert_good_split(text, split_text(text, max_chars), max_chars)
    assert_good_split(text, split_sentences(text, max_chars), max_chars)


@settings(max_examples=300, deadline=None)
@given(texts(), st.integers(40, 400))
def test_no_cut_inside_numbers_urls_emails_or_words(sample, max_chars: int):
    # Every protected token is at most 29 characters, plus what clings to it (a comma, a full
    # stop), so a limit of 40 always leaves room to cut around it.
    text, protected = sample
    for segments in (split_text(text, max_chars), split_sentences(text, max_chars)):
        spans = assert_good_split(text, segments, max_chars)
        cuts = {end for _, end in spans[:-1]} | {start for start, _ in spans[1:]}
        for start, end in protected:
            inside = [cut for cut in cuts if start < cut < end]
            assert not inside, (text[start:end], max_chars)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=3000), st.integers(1, 500))
def test_any_unicode_text_splits_within_the_limit(text: str, max_chars: int):
    segments = split_text(text, max_chars)
    assert all(0 < len(segment) <= max_chars for segment in segments)
    assert re.sub(r"\s", "", "".join(segments)) == re.sub(r"\s", "", text)


# --- the cut finder skips positions in C: it finds exactly what looking at each one finds --------


def _tiers_looking_everywhere(text: str) -> list[list[int]]:
    """Every position given to ``_Cuts._tier`` in turn, as the finder did before it skipped."""
    cuts = _Cuts(text)
    tiers: list[list[int]] = [[], [], [], []]
    for position in range(1, len(text)):
        if not cuts.protected[position]:
            tier = cuts._tier(position)
            if tier is not None:
                tiers[tier].append(position)
    return tiers


PUNCTUATION = "".join(sorted(SENTENCE_ENDS | CLOSERS | OPENERS | CLAUSE_MARKS))


@settings(max_examples=300, deadline=None)
@given(texts())
def test_the_cuts_found_are_those_of_every_position_looked_at(sample) -> None:
    text, _ = sample
    assert _Cuts(text).tiers == _tiers_looking_everywhere(text)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=400),
        st.text(alphabet=f"aZ1 .\n\r\t\u3000\u00a0\u200d\u0301你好ア{PUNCTUATION}", max_size=400),
    )
)
def test_the_cuts_found_in_any_text_are_those_of_every_position_looked_at(text: str) -> None:
    assert _Cuts(text).tiers == _tiers_looking_everywhere(text)


# Han, kana, bopomofo and CJK/full-width punctuation, as code point ranges: the module's
# docstring and ``is_cjk``'s meaning, checked against the class that implements it.
CJK_RANGES = (
    (0x3000, 0x30FF), (0x3100, 0x312F), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF01, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65), (0x20000, 0x3FFFF),
)  # fmt: skip


def test_the_cjk_class_is_is_cjk_for_every_code_point() -> None:
    pattern = re.compile(f"[{_CJK_CLASS}]")
    chars = list(map(chr, range(0x40100)))

    def in_ranges(char: str) -> bool:
        return any(low <= ord(char) <= high for low, high in CJK_RANGES)

    assert [char for char in chars if bool(pattern.match(char)) != is_cjk(char)] == []
    assert [char for char in chars if is_cjk(char) != in_ranges(char)] == []
