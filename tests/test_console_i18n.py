"""The console's language choice: the browser's preference until the visitor picks one."""

from __future__ import annotations

import pytest

from console.i18n import pick, prefers_chinese


@pytest.mark.parametrize(
    ("header", "chinese"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", True),
        ("zh-TW", True),
        ("en-US,en;q=0.9,zh-CN;q=0.8", False),
        ("en-US,zh-CN;q=0.9", False),
        ("fr-FR,zh;q=0.5,en;q=0.4", True),
        ("de-DE,fr;q=0.9", False),
        ("", False),
        ("zh;q=0,en", False),
        ("zh;q=bad,en;q=0.1", False),
        ("EN;q=0.3, ZH-hans;q=0.7", True),
    ],
)
def test_accept_language_decides_until_the_visitor_chooses(header: str, chinese: bool) -> None:
    assert prefers_chinese(header) is chinese


def test_pick_gives_the_string_of_the_language() -> None:
    assert pick("zh", "Saved", "已保存") == "已保存"
    assert pick("en", "Saved", "已保存") == "Saved"
    assert pick("fr", "Saved", "已保存") == "Saved"
