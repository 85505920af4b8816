"""Text for speech: split long text into engine-sized pieces, and count billable characters.

``split_text(text, max_chars)`` cuts text longer than an engine's limit (seed 001: 2000
characters per call) into segments that are each at most ``max_chars`` long, packing as many
whole sentences into each as fit. Where it cuts, in order of preference:

1. sentence ends: 。！？；.!?; and … (with any closing quotes or brackets after them), and line
   breaks. An ASCII ``.`` only ends a sentence before a space, a line break, CJK text or the end,
   and not after a known abbreviation (Mr., e.g., …), an initial, or a list number ("1. ");
   nor before a lower-case word ("approx. five").
2. clause marks: ，、： and ASCII , : before a space;
3. spaces between words;
4. the boundary between two CJK characters (for Chinese or Japanese with no punctuation);
5. anywhere: only when a single unbroken token (a 3000-letter "word") exceeds ``max_chars``.

It never cuts inside a number (3.14, 1,000, 12:30), a URL, an e-mail address or a word: tiers
1-4 exclude those positions. Segments are the text's own slices with the whitespace at each cut
removed, in order: joining them with the removed whitespace gives the text back.

``split_sentences`` cuts at every sentence end (tier 1) instead, for sentence-by-sentence
streaming synthesis; a sentence longer than ``max_chars`` is split further as above.

``count_characters`` is the billing unit: the number of Unicode code points after NFC
normalisation, so "é" counts once whether it arrived precomposed or as e + accent, and every
character counts the same (a Chinese character, a letter, a space or a punctuation mark is 1).
Splitting works on the text as given; callers normalise first if they want both to agree.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from typing import Final

DEFAULT_MAX_CHARS: Final = 2000

SENTENCE_ENDS: Final = frozenset("。！？；!?;.…．｡‼⁇⁈⁉")
_ASCII_ENDS: Final = frozenset("!?;.")
CLOSERS: Final = frozenset("\"'”’」』）)]】》〉｣〕")
OPENERS: Final = frozenset("“‘「『（([【《〈｢〔")
CLAUSE_MARKS: Final = frozenset("，、：,:﹐﹑")
_ASCII_CLAUSE: Final = frozenset(",:")
_LINE_BREAKS: Final = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")
_ZWJ: Final = "\u200d"
_WORD_LOOKBACK: Final = 32

# Words after which "." is not the end of a sentence (compared in lower case, without dots).
ABBREVIATIONS: Final = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "eg", "ie", "cf", "al",
        "inc", "ltd", "co", "corp", "fig", "approx", "dept", "est", "mt", "ft", "vol",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "gen", "gov", "sen", "rep", "rev", "capt", "col", "lt", "sgt", "u.s", "a.m", "p.m",
    }
)  # fmt: skip

# A URL runs to the first space, quote or CJK character (Chinese text often follows a link
# with no space); trailing punctuation is trimmed off afterwards.
_URL_RE: Final = re.compile(
    r"(?:[a-zA-Z][a-zA-Z0-9+.-]*://|www\.)"
    r"[^\s<>\"'\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+"
)
_EMAIL_RE: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_NUMBER_RE: Final = re.compile(r"\d+(?:[.,:：]\d+)+")
_URL_TRAILING: Final = ".,;:!?)]}'\"…"

SENTENCE, CLAUSE, SPACE, CJK = 0, 1, 2, 3


def count_characters(text: str) -> int:
    """Billable characters: Unicode code points after NFC normalisation."""
    return len(unicodedata.normalize("NFC", text))


# Scripts written without spaces between words, where a cut between characters is fine: Han,
# kana, bopomofo, and CJK/full-width punctuation. One class serves ``is_cjk`` and ``_CUT_AT``.
_CJK_CLASS: Final = (
    "\u3000-\u30ff"  # CJK symbols and punctuation, hiragana, katakana
    "\u3100-\u312f"  # bopomofo
    "\u31f0-\u31ff"  # katakana extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # full-width punctuation …
    "\U00020000-\U0003ffff"  # CJK extensions B onwards
)
_CJK_CHAR: Final = re.compile(f"[{_CJK_CLASS}]")


def is_cjk(char: str) -> bool:
    """Whether ``char`` is in a script written without spaces between words (``_CJK_CLASS``)."""
    return _CJK_CHAR.match(char) is not None


def _joins_previous(char: str) -> bool:
    """Characters that must stay with the one before them (accents, ZWJ, variation selectors)."""
    return (
        char == _ZWJ
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or (0xFE00 <= ord(char) <= 0xFE0F or 0xE0100 <= ord(char) <= 0xE01EF)
    )


class _Cuts:
    """Where ``text`` may be cut, by tier. Position p means between text[p-1] and text[p]."""

    def __init__(self, text: str):
        self.text = text
        n = len(text)
        protected = bytearray(n + 1)  # 1 at positions inside a number, URL or e-mail
        for span_start, span_end in _protected_spans(text):
            protected[span_start + 1 : span_end] = b"\x01" * max(0, span_end - span_start - 1)
        self.protected = protected
        self.tiers: list[list[int]] = [[], [], [], []]
        for p in _candidates(text):
            if protected[p]:
                continue
            tier = self._tier(p)
            if tier is not None:
                self.tiers[tier].append(p)

    def _tier(self, p: int) -> int | None:
        text = self.text
        before, after = text[p - 1], text[p]
        if before in _LINE_BREAKS:
            return SENTENCE
        if after.isspace():
            if self._ends_sentence(p):
                return SENTENCE
            if before in CLAUSE_MARKS:
                return CLAUSE
            return None if before.isspace() else SPACE
        if before.isspace():
            return None  # the cut before the whitespace serves
        if _joins_previous(after):
            return None
        if self._ends_sentence(p):
            return SENTENCE
        if before in CLAUSE_MARKS and (before not in _ASCII_CLAUSE or is_cjk(after)):
            return CLAUSE
        if (is_cjk(before) or is_cjk(after)) and not (
            _is_punctuation_start(after) or before in OPENERS
        ):
            return CJK
        return None

    def _ends_sentence(self, p: int) -> bool:
        """True if a sentence ends right before position p."""
        text = self.text
        end = p - 1
        while end >= 0 and text[end] in CLOSERS:
            end -= 1
        if end < 0 or text[end] not in SENTENCE_ENDS:
            return False
        if p < len(text) and (text[p] in SENTENCE_ENDS or text[p] in CLOSERS):
            return False  # the run of terminators and closers goes on
        if text[end] not in _ASCII_ENDS:
            return True  # 。！？；… end a sentence whatever follows
        after = text[p] if p < len(text) else ""
        if after and not (after.isspace() or is_cjk(after)):
            return False  # "a.b", "3.14", "e.g.x": not a sentence end
        if text[end] == "." and not self._period_ends_sentence(end, p):
            return False
        return True

    def _period_ends_sentence(self, dot: int, p: int) -> bool:
        text = self.text
        # The next word starting in lower case means the sentence goes on ("approx. five").
        following = p
        while following < len(text) and text[following].isspace():
            following += 1
        if following < len(text) and text[following].isascii() and text[following].islower():
            return False
        # The word before the dot (a bounded look back: abbreviations are short).
        start = dot
        while start > max(0, dot - _WORD_LOOKBACK) and (
            text[start - 1].isalnum() or text[start - 1] == "."
        ):
            start -= 1
        word = text[start:dot]
        if (
            word.lower().strip(".") in ABBREVIATIONS
            or word.replace(".", "").lower() in ABBREVIATIONS
        ):
            return False
        if len(word) == 1 and word.isupper():
            return False  # an initial: "J. Smith"
        if word.isdigit() and len(word) <= 3 and self._at_line_start(start):
            return False  # a list number: "1. First"
        return True

    def _at_line_start(self, position: int) -> bool:
        """Only spaces between the previous line break (or the text's start) and ``position``."""
        text = self.text
        while position > 0 and text[position - 1] in " \t":
            position -= 1
        return position == 0 or text[position - 1] in _LINE_BREAKS


# ``_Cuts._tier`` finds a cut at position p only where text[p] is whitespace or CJK, or where
# text[p - 1] is a line break, a sentence end, a closer, a clause mark or CJK: every other
# position is skipped in C rather than looked at character by character in Python. English
# prose has about one such position in five: 200 characters take 0.04 ms instead of 0.33;
# text that is all CJK (every position a candidate) costs what it did.
_CUT_AT: Final = re.compile(
    "(?<=[{}{}])|(?=[\\s{}])".format(
        re.escape("".join(sorted(_LINE_BREAKS | SENTENCE_ENDS | CLOSERS | CLAUSE_MARKS))),
        _CJK_CLASS,
        _CJK_CLASS,
    )
)


def _candidates(text: str) -> list[int]:
    """The positions 1 … len(text) - 1 where ``_Cuts._tier`` may find a cut, in order."""
    end = len(text)  # found after the last character too (by the look back), never a cut
    return [match.start() for match in _CUT_AT.finditer(text, 1) if match.start() < end]


def _is_punctuation_start(char: str) -> bool:
    """A segment should not start with punctuation that belongs to the text before it."""
    return char in SENTENCE_ENDS or char in CLOSERS or char in CLAUSE_MARKS


def _protected_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in _URL_RE.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in _URL_TRAILING:
            end -= 1
        spans.append((match.start(), end))
    spans.extend(match.span() for match in _EMAIL_RE.finditer(text))
    spans.extend(match.span() for match in _NUMBER_RE.finditer(text))
    return spans


def split_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """``text`` in segments of at most ``max_chars`` characters, cut at the best boundaries
    (see the module docstring). Whitespace-only text gives an empty list."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    cuts = _Cuts(text)
    return _pack(text, cuts, max_chars)


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS, min_chars: int = 0) -> list[str]:
    """``text`` sentence by sentence (each at most ``max_chars``; longer ones are split further).
    A sentence shorter than ``min_chars`` is joined to the next one ("Hi." "OK."), which keeps
    streaming synthesis from making many tiny requests."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    cuts = _Cuts(text)
    bounds = [0, *cuts.tiers[SENTENCE], len(text)]
    sentences: list[str] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        piece = text[start:end]
        if not piece.strip():
            continue
        if len(piece.strip()) <= max_chars:
            sentences.append(piece.strip())
        else:
            sentences.extend(split_text(piece, max_chars))
    if min_chars <= 0:
        return sentences
    merged: list[str] = []
    pending = ""
    for sentence in sentences:
        candidate = f"{pending}{_joiner(pending, sentence)}{sentence}" if pending else sentence
        if len(candidate) > max_chars:
            merged.append(pending)
            candidate = sentence
        if len(candidate) < min_chars:
            pending = candidate
        else:
            merged.append(candidate)
            pending = ""
    if pending:
        merged.append(pending)
    return merged


def _joiner(left: str, right: str) -> str:
    return "" if is_cjk(left[-1]) or is_cjk(right[0]) else " "


def _pack(text: str, cuts: _Cuts, max_chars: int) -> list[str]:
    segments: list[str] = []
    n = len(text)
    start = _skip_space(text, 0)
    text_end = len(text.rstrip())
    while start < text_end:
        if text_end - start <= max_chars:
            segments.append(text[start:text_end])
            break
        limit = start + max_chars
        cut = _best_cut(cuts, start, limit)
        segments.append(text[start:cut].rstrip())
        start = _skip_space(text, cut)
    assert all(0 < len(segment) <= max_chars for segment in segments) or n == 0
    return segments


def _best_cut(cuts: _Cuts, start: int, limit: int) -> int:
    """The furthest cut in (start, limit] of the best tier that has one."""
    for positions in cuts.tiers:
        index = bisect.bisect_right(positions, limit) - 1
        if index >= 0 and positions[index] > start:
            return positions[index]
    # A single token longer than the limit: cut inside it, but not before an accent or ZWJ.
    text = cuts.text
    for p in range(limit, start, -1):
        if not _joins_previous(text[p]) and text[p - 1] != _ZWJ:
            return p
    return limit


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position
